#!/usr/bin/env python3
"""Uplink benchmark: event -> platform 2xx latency, durable enqueue rate, backlog drain rate.

Runs `gedge receiver` as its own process on loopback and the agent's real outbox (SQLite, WAL,
synchronous=FULL) and HTTP uplink in this process.

    python bench/bench_uplink.py [--events 300] [--enqueue 2000] [--backlog 10000] [--json]

Goals (platform-api / issue): p99 event -> 2xx < 1 s; durable enqueue >= 500 incidents/s;
a 10,000-incident backlog drains at >= 200 incidents/s.
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from edge.incidents import IncidentBook, Subject  # noqa: E402
from edge.outbox import Outbox  # noqa: E402
from edge.uplink import RetrySchedule, Uplink  # noqa: E402
from edge.uplink.http import HttpTransport  # noqa: E402

SITE = {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "示例路 1 号",
        "responsible": {"name": "示例物业", "phone": "021-00000000"}}
TOKEN = "bench-token"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_receiver(tmp: Path) -> tuple[subprocess.Popen, int, Path]:
    port = free_port()
    db = tmp / "receiver.sqlite"
    token_file = tmp / "token"
    token_file.write_text(TOKEN)
    proc = subprocess.Popen([sys.executable, "-m", "edge", "receiver", "--port", str(port), "--db", str(db),
                             "--token-file", str(token_file)], cwd=str(REPO),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5).ok:
                return proc, port, db
        except requests.RequestException:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("gedge receiver did not start")


def book() -> IncidentBook:
    return IncidentBook("bench-dev-01", SITE, "Asia/Shanghai")


def docs(n: int, offset: int = 0) -> list[dict]:
    b = book()
    return [b.open("bag_outside_bin", Subject(zone=f"floor-{offset + i}"), {"dwell_s": 61.5, "count": 1}, time.time())
            for i in range(n)]


def pct(values: list[float], p: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, max(0, round(p / 100 * len(s)) - 1))]


def bench_fsync_ceiling(tmp: Path, n: int = 500) -> float:
    """Commits/s of a bare one-row SQLite table with the same settings: what the disk allows now."""
    db = sqlite3.connect(str(tmp / "ceiling.sqlite"), isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (x)")
    t = time.perf_counter()
    for _ in range(n):
        db.execute("BEGIN IMMEDIATE")
        db.execute("INSERT INTO t VALUES (?)", ("x" * 800,))
        db.execute("COMMIT")
    rate = n / (time.perf_counter() - t)
    db.close()
    return round(rate, 1)


def bench_enqueue(tmp: Path, n: int, threads: int) -> dict:
    """n incidents enqueued by `threads` producers (each call returns only once on disk)."""
    box = Outbox(tmp / f"enqueue-{threads}-{time.monotonic_ns()}.sqlite")
    batches = [docs(n // threads, offset=k * n) for k in range(threads)]
    commits = []
    real = box._commit_batch
    box._commit_batch = lambda batch: (commits.append(len(batch)), real(batch))

    def produce(batch):
        for d in batch:
            box.enqueue_incident(d)

    workers = [threading.Thread(target=produce, args=(b,)) for b in batches]
    t = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    elapsed = time.perf_counter() - t
    total = sum(len(b) for b in batches)
    assert box.counts()["pending"] == total
    box.close()
    return {"incidents": total, "threads": threads, "seconds": round(elapsed, 3), "per_s": round(total / elapsed, 1),
            "transactions": len(commits)}


def transport(port: int) -> HttpTransport:
    return HttpTransport(f"http://127.0.0.1:{port}/api", "bench-dev-01", TOKEN, connect_timeout_s=3, read_timeout_s=10)


def bench_latency(tmp: Path, port: int, n: int) -> dict:
    box = Outbox(tmp / "latency.sqlite")
    acked: dict[tuple[str, int], float] = {}
    cond = threading.Condition()

    def delivered(item, outcome):
        with cond:
            acked[(item.incident_id, item.rev)] = time.perf_counter()
            cond.notify_all()

    up = Uplink(box, [transport(port)], lambda: RetrySchedule(1, 300), on_delivered=delivered)
    up.start()
    b = book()
    lat = []
    for i in range(n):
        t0 = time.perf_counter()  # the event: the lifecycle decides, the outbox makes it durable
        d = b.open("bin_full", Subject(bin_id=f"bin-{i}"), {"fill_pct": 93.0}, time.time())
        box.enqueue_incident(d)
        key = (d["id"], d["rev"])
        with cond:
            if not cond.wait_for(lambda: key in acked, timeout=10):
                raise SystemExit(f"incident {i} not delivered within 10 s")
        lat.append(acked[key] - t0)
        time.sleep(0.005)
    up.stop()
    box.close()
    ms = [x * 1000 for x in lat]
    return {"events": n, "p50_ms": round(statistics.median(ms), 2), "p99_ms": round(pct(ms, 99), 2),
            "max_ms": round(max(ms), 2)}


def bench_drain(tmp: Path, port: int, n: int) -> dict:
    box = Outbox(tmp / "drain.sqlite")
    for i in range(0, n, 500):
        box.enqueue_many(docs(min(500, n - i), offset=i))  # set-up only: the backlog of an outage
    assert box.counts()["pending"] == n
    up = Uplink(box, [transport(port)], lambda: RetrySchedule(1, 300))
    t = time.perf_counter()
    up.start()
    while box.counts()["pending"]:
        time.sleep(0.01)
    elapsed = time.perf_counter() - t
    up.stop()
    box.close()
    return {"incidents": n, "seconds": round(elapsed, 2), "per_s": round(n / elapsed, 1)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--events", type=int, default=300, help="events for the latency figure")
    ap.add_argument("--enqueue", type=int, default=2000, help="incidents for the enqueue rate")
    ap.add_argument("--backlog", type=int, default=10000, help="backlog size for the drain rate")
    ap.add_argument("--producers", type=int, default=4, help="threads enqueuing at once (group commit)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="gedge-bench-") as d:
        tmp = Path(d)
        proc, port, db = start_receiver(tmp)
        try:
            ceiling = bench_fsync_ceiling(tmp)
            enq1 = bench_enqueue(tmp, args.enqueue, 1)
            enq = bench_enqueue(tmp, args.enqueue, args.producers)
            lat = bench_latency(tmp, port, args.events)
            drain = bench_drain(tmp, port, args.backlog)
        finally:
            proc.terminate()
            proc.wait(10)
    result = {
        "machine": f"{platform.machine()} {os.cpu_count()} CPU, Python {platform.python_version()}",
        "latency": lat, "fsync_ceiling_commits_per_s": ceiling, "enqueue_sequential": enq1, "enqueue": enq,
        "drain": drain,
        "goals_met": {"p99_under_1s": lat["p99_ms"] < 1000, "enqueue_500_per_s": enq["per_s"] >= 500,
                      "drain_200_per_s": drain["per_s"] >= 200},
    }
    if args.json:
        print(json.dumps(result))
        return 0
    print(f"uplink benchmark on {result['machine']} (loopback, gedge receiver in its own process)")
    print(f"event -> receiver 2xx ({lat['events']} events, fsync'd outbox): p50 {lat['p50_ms']:.1f} ms, "
          f"p99 {lat['p99_ms']:.1f} ms, max {lat['max_ms']:.1f} ms   (goal p99 < 1000 ms: {1000 / lat['p99_ms']:.0f}x margin)")
    print(f"disk right now: a bare fsync'd SQLite commit runs {ceiling:.0f}/s")
    print(f"durable enqueue, 1 producer ({enq1['incidents']} incidents, one fsync'd transaction each): "
          f"{enq1['per_s']:.0f}/s   ({enq1['per_s'] / 500:.1f}x the 500/s goal)")
    print(f"durable enqueue, {enq['threads']} producers ({enq['incidents']} incidents in {enq['transactions']} group commits): "
          f"{enq['per_s']:.0f}/s   (goal >= 500/s: {enq['per_s'] / 500:.1f}x)")
    print(f"backlog drain ({drain['incidents']} incidents to gedge receiver): {drain['per_s']:.0f}/s in {drain['seconds']} s   "
          f"(goal >= 200/s: {drain['per_s'] / 200:.1f}x)")
    return 0 if all(result["goals_met"].values()) else 1


if __name__ == "__main__":
    sys.exit(main())
