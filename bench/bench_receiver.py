#!/usr/bin/env python3
"""Platform-server load: N agents, each with its own token and a backlog of queued incidents,
drain into one receiver at once: the previous `http.server` receiver (from git history) and
`gedge receiver` on SQLite and on PostgreSQL, side by side.

Each agent is its own process with the real outbox (SQLite) and HTTP uplink; the receiver is
its own process. The clock starts when every agent has its backlog on disk and is told to go,
and stops when the last outbox is empty; the receiver is then checked to hold every incident.
Runs are interleaved (old, sqlite, postgres, old, sqlite, ...) so that a busy spell of the
machine falls on all of them; the summary gives medians and each store's ratio to the old one.
CPU seconds are given per side (receiver process, agents, PostgreSQL's backends) to show where
the time goes on a machine with fewer cores than processes.

    python bench/bench_receiver.py [--agents 4] [--backlog 3000] [--stores old,sqlite,postgres]
                                   [--repeat 3] [--profile DIR] [--json]

`old` is edge/receiver.py as it was before edge/platform/ came (read with `git show`; one
shared token, SQLite): skipped outside a git checkout. PostgreSQL: a throwaway cluster is
started (initdb/pg_ctl of Debian's postgresql package, fsync on). `--profile DIR` runs each
receiver under cProfile and writes DIR/<store>-<round>.prof (slower: for finding hot spots).
`sqlite@REV` or `postgres@REV` runs `gedge receiver` as it was in commit REV (its edge/ package
read with `git archive`) beside today's: a change measured against its parent in one run.
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
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests"))

SITE = {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "示例路 1 号",
        "responsible": {"name": "示例物业", "phone": "021-00000000"}}

# the previous receiver, run from a file written out of git history (one shared token)
_OLD_MAIN = """
import signal, sys
sys.path.insert(0, sys.argv[1])
import old_receiver as r
def stop(*_):
    raise KeyboardInterrupt
signal.signal(signal.SIGTERM, stop)
store = r.ReceiverStore(sys.argv[3])
server = r.ReceiverServer("127.0.0.1", int(sys.argv[2]), store, token=sys.argv[4])
try:
    server.serve_forever()
except KeyboardInterrupt:
    pass
finally:
    server.server_close()
    store.close()
"""


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
    t, cpu = time.perf_counter(), time.process_time()
    up.start()
    while box.counts()["pending"]:
        time.sleep(0.05)  # a finer poll costs the agents CPU the receiver competes for
    elapsed, cpu = time.perf_counter() - t, time.process_time() - cpu
    up.stop()
    counts = box.counts()
    box.close()
    print(json.dumps({"device": device, "seconds": elapsed, "cpu_s": cpu, "dead": counts.get("dead_letters", 0)}),
          flush=True)
    return 0


def raw_clients(port: int, toks: dict[str, str], n: int) -> tuple[float, float, int]:
    """The server alone: per device a thread on one keep-alive socket posting n pre-built requests
    (the agents' documents, made beforehand) one after another. (wall s, client CPU s, non-201s)."""
    import threading

    from edge.incidents import IncidentBook, Subject

    requests_of = {}
    for device, token in toks.items():
        book = IncidentBook(device, SITE, "Asia/Shanghai")
        reqs = []
        for i in range(n):
            body = json.dumps(book.open("bag_outside_bin", Subject(zone=f"floor-{i}"),
                                        {"dwell_s": 61.5, "count": 1, "seen_by": "detector"}, time.time())).encode()
            reqs.append(f"POST /api/v1/incidents HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
                        f"Authorization: Bearer {token}\r\nX-Device-Id: {device}\r\n"
                        f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        requests_of[device] = reqs
    refused = []

    def client(reqs: list[bytes]) -> None:
        with socket.create_connection(("127.0.0.1", port)) as c:
            c.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            buf = b""
            for r in reqs:
                c.sendall(r)
                while True:  # one answer: its head, then Content-Length bytes
                    end = buf.find(b"\r\n\r\n")
                    if end >= 0:
                        head = buf[:end].lower()
                        length = int(head.split(b"content-length:")[1].split(b"\r\n")[0])
                        if len(buf) >= end + 4 + length:
                            if buf[9:12] != b"201":
                                refused.append(buf[:end + 4 + length])
                            buf = buf[end + 4 + length:]
                            break
                    data = c.recv(65536)
                    if not data:
                        raise ConnectionError("the receiver closed the connection")
                    buf += data

    threads = [threading.Thread(target=client, args=(reqs,)) for reqs in requests_of.values()]
    t, cpu = time.perf_counter(), time.process_time()
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    return time.perf_counter() - t, time.process_time() - cpu, len(refused)


def old_receiver_source() -> str | None:
    """edge/receiver.py in the commit before the one that added edge/platform/server.py."""
    try:
        added = subprocess.run(["git", "log", "--diff-filter=A", "--format=%H", "-1", "--", "edge/platform/server.py"],
                               cwd=REPO, capture_output=True, text=True, timeout=30, check=True).stdout.strip()
        if not added:
            return None
        return subprocess.run(["git", "show", f"{added}^:edge/receiver.py"], cwd=REPO, capture_output=True,
                              text=True, timeout=30, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None


def _cpu(proc) -> float:
    """CPU seconds of a running process (psutil), or nan where that cannot be read."""
    try:
        import psutil

        t = psutil.Process(proc.pid).cpu_times()
        return t.user + t.system
    except Exception:
        return float("nan")


def _children_cpu(pid: int) -> float:
    """CPU seconds of a process's exited children (the PostgreSQL backends of closed connections)."""
    try:
        import psutil

        t = psutil.Process(pid).cpu_times()
        return t.children_user + t.children_system
    except Exception:
        return float("nan")


class Postgres:
    """One throwaway cluster for the whole run; a fresh database per drain."""

    def __init__(self):
        from receiver_support import PostgresCluster

        self.cluster = PostgresCluster()
        self.pid = int((self.cluster.data / "postmaster.pid").read_text().split()[0])

    def backends_cpu_after(self, before: float) -> float:
        # the backends of the receiver's connections exit once it has gone; wait until their
        # time has been added to the postmaster's children
        import psutil

        deadline = time.monotonic() + 10
        base = len(psutil.Process(self.pid).children())
        while time.monotonic() < deadline:
            time.sleep(0.2)
            if len(psutil.Process(self.pid).children()) <= base:
                break
            base = len(psutil.Process(self.pid).children())
        return _children_cpu(self.pid) - before

    def stop(self) -> None:
        self.cluster.stop()


def run_store(kind: str, db: str, agents: int, backlog: int, tmp: Path, tag: str, old_dir: Path | None = None,
              postgres: Postgres | None = None, profile: Path | None = None, raw: bool = False,
              code: Path = REPO) -> dict:
    import requests

    from edge.platform.storage import open_store
    from edge.platform.tokens import add_token

    devices = [f"bench-{tag}-{i:02d}" for i in range(agents)]
    port = free_port()
    prof = [] if profile is None else ["-m", "cProfile", "-o", str(profile / f"{tag}.prof")]
    if kind == "old":
        shared = os.urandom(16).hex()
        toks = {d: shared for d in devices}
        cmd = [sys.executable, *prof, str(old_dir / "old_main.py"), str(old_dir), str(port), db, shared]
    else:
        tokens = tmp / f"tokens-{tag}"
        toks = {d: add_token(tokens, d) for d in devices}
        cmd = [sys.executable, *prof, "-m", "edge", "receiver", "--port", str(port), "--db", db, "--tokens", str(tokens)]
    server = subprocess.Popen(cmd, cwd=str(code), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 30
    while True:
        try:
            if requests.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=0.5).ok:
                break
        except requests.RequestException:
            pass
        if time.monotonic() > deadline or server.poll() is not None:
            server.kill()
            raise SystemExit(f"{kind} receiver did not start: {server.stderr.read().decode()[-2000:]}")
        time.sleep(0.05)
    pg_before = _children_cpu(postgres.pid) if postgres else None
    procs = []
    try:
        if raw:
            server_cpu = _cpu(server)
            wall, client_cpu, refused = raw_clients(port, toks, backlog)
            server_cpu = _cpu(server) - server_cpu
            results = [{"seconds": wall, "cpu_s": client_cpu, "dead": refused}]
        for d in devices if not raw else ():
            procs.append(subprocess.Popen([sys.executable, __file__, "--agent", d, toks[d], str(port), str(backlog), str(tmp)],
                                          cwd=str(REPO), stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
        if not raw:
            for p in procs:
                assert p.stdout.readline().strip() == "ready"
            server_cpu = _cpu(server)
            t = time.perf_counter()
            for p in procs:
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [json.loads(p.stdout.readline()) for p in procs]
            wall = time.perf_counter() - t
            server_cpu = _cpu(server) - server_cpu
            for p in procs:
                p.wait(30)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
        server.terminate()
        server.wait(60)
    if kind == "old":
        with sqlite3.connect(db) as c:
            held = c.execute("SELECT count(*) FROM incidents").fetchone()[0]
    else:
        store = open_store(db)
        held = len(store.incidents())
        store.close()
    total = agents * backlog
    row = {"store": kind, "agents": agents, "incidents": total, "held": held, "seconds": round(wall, 2),
           "per_s": round(total / wall, 1), "slowest_agent_s": round(max(r["seconds"] for r in results), 2),
           "dead_letters": sum(r["dead"] for r in results),
           "receiver_cpu_ms_per_incident": round(server_cpu * 1000 / total, 3),
           "agents_cpu_ms_per_incident": round(sum(r["cpu_s"] for r in results) * 1000 / total, 3),
           "load": round(os.getloadavg()[0], 1)}
    if postgres:
        row["postgres_cpu_ms_per_incident"] = round(postgres.backends_cpu_after(pg_before) * 1000 / total, 3)
    return row


def receiver_at(rev: str, tmp: Path) -> Path:
    """A folder holding edge/ as it was in commit `rev`, to run that commit's receiver from."""
    out = tmp / f"rev-{rev.replace('/', '_')}"
    if not out.exists():
        out.mkdir()
        archive = subprocess.run(["git", "archive", rev, "edge"], cwd=REPO, capture_output=True, timeout=60)
        if archive.returncode:
            raise SystemExit(f"{rev}: not a commit here ({archive.stderr.decode().strip()})")
        subprocess.run(["tar", "-x", "-C", str(out)], input=archive.stdout, check=True, timeout=60)
    return out


def summary(rows: list[dict]) -> list[dict]:
    """Median per store, and the ratio of its drain rate to the old receiver's (same run)."""
    out = []
    for kind in dict.fromkeys(r["store"] for r in rows):
        mine = [r for r in rows if r["store"] == kind]
        med = {"store": kind, "runs": len(mine), "seconds": statistics.median(r["seconds"] for r in mine),
               "per_s": statistics.median(r["per_s"] for r in mine)}
        for key in ("receiver_cpu_ms_per_incident", "agents_cpu_ms_per_incident", "postgres_cpu_ms_per_incident"):
            if key in mine[0]:
                med[key] = round(statistics.median(r[key] for r in mine), 3)
        out.append(med)
    old = next((m for m in out if m["store"] == "old"), None)
    for m in out:
        if old:
            m["rate_vs_old"] = round(m["per_s"] / old["per_s"], 2)
    return out


def main() -> int:
    if len(sys.argv) > 1 and sys.argv[1] == "--agent":
        _, _, device, token, port, n, folder = sys.argv
        return agent(device, token, int(port), int(n), folder)
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--agents", type=int, default=4)
    ap.add_argument("--backlog", type=int, default=3000, help="queued incidents per agent")
    ap.add_argument("--stores", default="old,sqlite,postgres")
    ap.add_argument("--repeat", type=int, default=3, help="rounds; the stores are interleaved within each")
    ap.add_argument("--profile", metavar="DIR", help="run each receiver under cProfile, stats into DIR")
    ap.add_argument("--raw", action="store_true",
                    help="no agents: threads post pre-built requests (the server's own capacity)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    kinds = args.stores.split(",")
    for k in kinds:
        if k.partition("@")[0] not in ("old", "sqlite", "postgres") or k.startswith("old@"):
            raise SystemExit(f"unknown store {k!r} (old, sqlite, postgres, sqlite@REV, postgres@REV)")
    profile = Path(args.profile) if args.profile else None
    if profile:
        profile.mkdir(parents=True, exist_ok=True)
    rows: list[dict] = []
    who = "clients" if args.raw else "agents"
    with tempfile.TemporaryDirectory(prefix="gedge-bench-receiver-") as d:
        tmp = Path(d)
        old_dir = None
        if "old" in kinds:
            src = old_receiver_source()
            if src is None:
                print("old: no git history here: skipped", file=sys.stderr)
                kinds.remove("old")
            else:
                old_dir = tmp / "old"
                old_dir.mkdir()
                (old_dir / "old_receiver.py").write_text(src, encoding="utf-8")
                (old_dir / "old_main.py").write_text(_OLD_MAIN, encoding="utf-8")
        postgres = Postgres() if any(k.startswith("postgres") for k in kinds) else None
        try:
            for n in range(args.repeat):
                for kind in kinds:
                    store, _, rev = kind.partition("@")
                    tag = f"{kind.replace('@', '-').replace('/', '_')}-{n}"
                    if store == "postgres":
                        db = postgres.cluster.new_database()
                    else:
                        db = str(tmp / f"receiver-{tag}.sqlite")
                    row = run_store(store, db, args.agents, args.backlog, tmp, tag, old_dir,
                                    postgres if store == "postgres" else None, profile, args.raw,
                                    receiver_at(rev, tmp) if rev else REPO)
                    row["store"] = kind
                    rows.append(row)
                    if not args.json:
                        print(f"  {kind:<9} round {n + 1}: {row['seconds']} s = {row['per_s']:.0f}/s, receiver CPU "
                              f"{row['receiver_cpu_ms_per_incident']} ms/incident, {who} "
                              f"{row['agents_cpu_ms_per_incident']} ms/incident"
                              + (f", PostgreSQL {row['postgres_cpu_ms_per_incident']} ms/incident"
                                 if "postgres_cpu_ms_per_incident" in row else "")
                              + f", load {row['load']}", flush=True)
        finally:
            if postgres:
                postgres.stop()
    info = {"machine": f"{platform.machine()}, {os.cpu_count()} CPUs, load {os.getloadavg()[0]:.1f}"}
    med = summary(rows)
    if args.json:
        print(json.dumps({**info, "runs": rows, "medians": med}))
    else:
        print(info["machine"])
        total = args.agents * args.backlog
        for m in med:
            print(f"{m['store']:<9} {args.agents} agents x {args.backlog} queued: {total} incidents in {m['seconds']:.2f} s "
                  f"= {m['per_s']:.0f}/s (median of {m['runs']})"
                  + (f", {m['rate_vs_old']:.2f}x the old receiver's rate" if "rate_vs_old" in m else "")
                  + f"; receiver CPU {m['receiver_cpu_ms_per_incident']} ms/incident, {who} "
                  f"{m['agents_cpu_ms_per_incident']}"
                  + (f", PostgreSQL {m['postgres_cpu_ms_per_incident']}" if "postgres_cpu_ms_per_incident" in m else ""))
        for r in rows:
            if r["held"] != r["incidents"] or r["dead_letters"]:
                print(f"{r['store']}: receiver holds {r['held']} of {r['incidents']}; dead letters {r['dead_letters']}")
    return 0 if all(r["held"] == r["incidents"] and not r["dead_letters"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
