#!/usr/bin/env python3
"""Platform-server load: N agents, each with its own token and a backlog of queued incidents,
drain into one `gedge receiver` at once, on SQLite and on PostgreSQL.

Each agent is its own process with the real outbox (SQLite) and HTTP uplink; the receiver is
its own process. The clock starts when every agent has its backlog on disk and is told to go,
and stops when the last outbox is empty; the receiver is then checked to hold every incident.

    python bench/bench_receiver.py [--agents 4] [--backlog 3000] [--stores sqlite,postgres] [--json]

PostgreSQL: a throwaway cluster is started (initdb/pg_ctl of Debian's postgresql package).
"""
from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

SITE = {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "示例路 1 号",
        "responsible": {"name": "示例物业", "phone": "021-00000000"}}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def agent(device: str, token: str, port: int, n: int, folder: str) -> int:
    """One box: fill the outbox (not timed), say ready, wait for go, drain, say how long."""
    from edge.incidents import IncidentBook, Subject
    from edge.outbox import Outbox
    from edge.uplink import RetrySchedule, Uplink
    from edge.uplink.http import HttpTransport

    box = Outbox(Path(folder) / f"{device}.sqlite")
    book = IncidentBook(device, SITE, "Asia/Shanghai")
    for i in range(0, n, 500):
        box.enqueue_many([book.open("bag_outside_bin", Subject(zone=f"floor-{i + k}"),
                                    {"dwell_s": 61.5, "count": 1, "seen_by": "detector"}, time.time())
                          for k in range(min(500, n - i))])
    http = HttpTransport(f"http://127.0.0.1:{port}/api", device, lambda: token)
    up = Uplink(box, [http], lambda: RetrySchedule(0.5, 30))
    print("ready", flush=True)
    sys.stdin.readline()
    t = time.perf_counter()
    up.start()
    while box.counts()["pending"]:
        time.sleep(0.005)
    elapsed = time.perf_counter() - t
    up.stop()
    counts = box.counts()
    box.close()
    print(json.dumps({"device": device, "seconds": elapsed, "dead": counts.get("dead_letters", 0)}), flush=True)
    return 0


def run_store(kind: str, db: str, agents: int, backlog: int, tmp: Path) -> dict:
    import requests

    from edge.platform.storage import open_store
    from edge.platform.tokens import add_token

    tokens = tmp / f"tokens-{kind}"
    devices = [f"bench-{kind}-{i:02d}" for i in range(agents)]
    toks = {d: add_token(tokens, d) for d in devices}
    port = free_port()
    server = subprocess.Popen([sys.executable, "-m", "edge", "receiver", "--port", str(port), "--db", db,
                               "--tokens", str(tokens)], cwd=str(REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"gedge receiver did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    procs = []
    try:
        for d in devices:
            procs.append(subprocess.Popen([sys.executable, __file__, "--agent", d, toks[d], str(port), str(backlog), str(tmp)],
                                          cwd=str(REPO), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        for p in procs:
            assert p.stdout.readline().strip() == "ready"
        t = time.perf_counter()
        for p in procs:
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.stdout.readline()) for p in procs]
        wall = time.perf_counter() - t
        for p in procs:
            p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(15)
    store = open_store(db)
    held = len(store.incidents())
    store.close()
    total = agents * backlog
    return {"store": kind, "agents": agents, "incidents": total, "held": held, "seconds": round(wall, 2),
            "per_s": round(total / wall, 1), "slowest_agent_s": round(max(r["seconds"] for r in results), 2),
            "dead_letters": sum(r["dead"] for r in results)}


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--agent":
        _, _, device, token, port, n, folder = sys.argv
        return agent(device, token, int(port), int(n), folder)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--backlog", type=int, default=3000, help="queued incidents per agent")
    ap.add_argument("--stores", default="sqlite,postgres")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    rows = []
    with tempfile.TemporaryDirectory(prefix="gedge-bench-receiver-") as d:
        tmp = Path(d)
        for kind in args.stores.split(","):
            if kind == "sqlite":
                rows.append(run_store(kind, str(tmp / "receiver.sqlite"), args.agents, args.backlog, tmp))
            elif kind == "postgres":
                from receiver_support import PostgresCluster

                cluster = PostgresCluster()
                try:
                    rows.append(run_store(kind, cluster.new_database(), args.agents, args.backlog, tmp))
                finally:
                    cluster.stop()
            else:
                raise SystemExit(f"unknown store {kind!r} (sqlite, postgres)")
    info = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    if args.json:
        print(json.dumps({**info, "runs": rows}))
    else:
        print(info["machine"])
        for r in rows:
            print(f"{r['store']:<9} {r['agents']} agents x {r['incidents'] // r['agents']} queued: {r['incidents']} incidents "
                  f"in {r['seconds']} s = {r['per_s']:.0f}/s (slowest agent {r['slowest_agent_s']} s); receiver holds "
                  f"{r['held']}; dead letters {r['dead_letters']}")
    return 0 if all(r["held"] == r["incidents"] and not r["dead_letters"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
