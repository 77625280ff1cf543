"""Benchmark: `gedge run` start to READY=1 and steady-state memory (RSS) with the onnx backend.

Runs the real agent on the simulated room (camera sim:bag_dropped_outside, two simulated
sensors, the fan relay, voice on the simulated speaker) against a local `gedge receiver`, with
$NOTIFY_SOCKET pointing at a socket of this script, and samples /proc/PID/status while it runs.

    .venv/bin/python bench/bench_runtime.py [--seconds 60] [--runs 3] [--model A.onnx --model B.onnx]
        [--verifier "" --verifier models/bag-verifier.onnx]

With several `--model` files (vision.model) or `--verifier` files (vision.verifier.model, "" for
none) the runs take turns, A, B, A, B, …, so that a busy spell of the machine falls on each;
figures are given per setting.

Goals (issue: the agent as a service): start to READY <= 5 s; steady-state RSS <= 250 MB.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config.edit import edited_text  # noqa: E402

READY_GOAL_S = 5.0
RSS_GOAL_MB = 250.0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def rss_mb(pid: int) -> float | None:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def one_run(tmp: Path, seconds: float, model: str | None = None, verifier: str | None = None) -> dict:
    port = free_port()
    (tmp / "token").write_text("bench\n")
    receiver = subprocess.Popen([sys.executable, "-m", "edge", "receiver", "--port", str(port),
                                 "--db", str(tmp / "r.db"), "--token-file", str(tmp / "token")],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    text = (ROOT / "config" / "default.yaml").read_text()
    for key, value in {
        "camera.source": "sim:bag_dropped_outside",
        "voice.player": "sim",
        "voice.quiet_hours": None,
        "uplink.http.base_url": f"http://127.0.0.1:{port}/api",
        "uplink.http.token_file": str(tmp / "token"),
        "uplink.http.token_credential": None,
        "storage.state_dir": str(tmp / "state"),
        "storage.cache_dir": str(tmp / "cache"),
        **({"vision.model": str(Path(model).resolve())} if model else {}),
        **({"vision.verifier.model": str(Path(verifier).resolve()) if verifier else ""} if verifier is not None else {}),
    }.items():
        text = edited_text(text, key, value)
    (tmp / "config.yaml").write_text(text)
    sock_path = str(tmp / "notify.sock")
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    sock.bind(sock_path)
    sock.settimeout(0.1)
    time.sleep(0.5)
    env = {**os.environ, "NOTIFY_SOCKET": sock_path}
    t0 = time.monotonic()
    agent = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(tmp / "config.yaml"), "run", "--simulation"],
                             env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
    ready = None
    samples: list[float] = []
    try:
        while time.monotonic() - t0 < 30 and ready is None:
            try:
                if b"READY=1" in sock.recv(4096):
                    ready = time.monotonic() - t0
            except socket.timeout:
                pass
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            drain_until = time.monotonic() + 1.0
            while time.monotonic() < drain_until:  # keep reading, as systemd does
                try:
                    sock.recv(4096)
                except socket.timeout:
                    pass
            r = rss_mb(agent.pid)
            if r is not None:
                samples.append(r)
    finally:
        agent.terminate()
        agent.wait(30)
        receiver.terminate()
        receiver.wait(10)
        sock.close()
    steady = samples[len(samples) // 3:] or samples
    return {"ready_s": ready, "rss_steady_mb": max(steady) if steady else None, "rss_peak_mb": max(samples or [0])}


def setting_name(model: str | None, verifier: str | None, lead: str) -> str:
    """How a run's setting is printed: nothing for the bundled config's."""
    parts = ([Path(model).name] if model is not None else []) + (
        [f"verifier {Path(verifier).name if verifier else 'off'}"] if verifier is not None else [])
    return (lead + ", ".join(parts)) if parts else ""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seconds", type=float, default=60, help="how long to sample RSS per run")
    ap.add_argument("--runs", type=int, default=3, help="runs per setting")
    ap.add_argument("--model", action="append", help="vision.model for the agent (repeat: the files take turns); "
                                                      "default: the bundled config's")
    ap.add_argument("--verifier", action="append", help="vision.verifier.model for the agent, \"\" for none "
                                                         "(repeat: the settings take turns); default: the bundled config's")
    args = ap.parse_args()
    settings = [(m, v) for m in args.model or [None] for v in args.verifier or [None]]
    results: dict = {s: [] for s in settings}
    for i in range(args.runs):
        for m, v in settings:
            with tempfile.TemporaryDirectory() as d:
                r = one_run(Path(d), args.seconds, m, v)
            results[(m, v)].append(r)
            ready_s = "never" if r["ready_s"] is None else f"{r['ready_s']:.2f} s"
            print(f"run {i + 1}{setting_name(m, v, ' ')}: start to READY {ready_s}, "
                  f"steady RSS {r['rss_steady_mb'] or 0:.0f} MB, peak RSS {r['rss_peak_mb']:.0f} MB", flush=True)
    missed = False
    for (m, v), runs in results.items():
        name = setting_name(m, v, "")
        name += ": " if name else ""
        ready = [r["ready_s"] for r in runs if r["ready_s"] is not None]
        steady = [r["rss_steady_mb"] for r in runs if r["rss_steady_mb"]]
        if not ready or not steady:
            print(f"{name}the agent never became READY or never ran", file=sys.stderr)
            missed = True
            continue
        print(f"{name}start to READY: median {statistics.median(ready):.2f} s "
              f"(goal <= 5 s, ratio {statistics.median(ready) / 5:.2f})")
        print(f"{name}steady-state RSS: median {statistics.median(steady):.0f} MB (goal <= 250 MB, "
              f"ratio {statistics.median(steady) / 250:.2f})")
        # `make bench` stops on a missed goal, not only on a crash
        missed |= (len(ready) < len(runs) or statistics.median(ready) > READY_GOAL_S
                   or statistics.median(steady) > RSS_GOAL_MB)
    if missed:
        print("goal missed", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
