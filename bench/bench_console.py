"""Benchmark: what an open console costs the agent (CPU seconds and RSS), side by side in one run.

Starts the real agent (`gedge run --simulation` on a steady simulated room: a bag left on the
floor at 2 s that stays, so an incident is open and the detector re-checks it; constant sensor
values; the fan relay and the simulated speaker; no uplink) and a real `gedge console` in front
of it, lets the agent warm up, then alternates equal windows on the same agent:

    idle     nobody asks the console anything
    console  a client polls like two open pages: GET /api/state every --state-every s,
             /api/frame.jpg every --frame-every s, /api/history of each sensor every 10 s

and reads the agent's CPU time (utime + stime, /proc/PID/stat) and RSS (/proc/PID/status,
sampled every second) over each window. Windows alternate (idle, console, idle, console, …) so
a slow drift of the machine's load falls on both sides alike.

    .venv/bin/python bench/bench_console.py [--window 30] [--rounds 3] [--state-every 1] [--frame-every 2]

Printed: per side the agent's CPU seconds per window (and as % of one core), RSS mean and max,
the console's own CPU, requests served; then the ratios console/idle.
"""
from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.config.edit import edited_text  # noqa: E402
from edge.runtime.control import ControlError, ask  # noqa: E402

TICKS = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime, stime


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return float("nan")


# steady on purpose: a scene that changes over time would load the two sides unequally
SCENARIO = """
name: bench_console
description: a bag left on the floor that stays; steady sensors
duration_s: 7200
timeline:
  - {t: 0.5, action: enter, actor: p1, from: right, to: [520, 390], carrying: black_bag, bag: b1}
  - {t: 2, action: drop, actor: p1, at: [545, 405]}
  - {t: 3, action: leave, actor: p1, to: right}
sensors:
  bin-1-level: [[0, 700], [7200, 700]]
  odor-1: [[0, 2.0], [7200, 2.0]]
"""


def write_config(tmp: Path) -> Path:
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    (tmp / "run").mkdir()
    (tmp / "scenario.yaml").write_text(SCENARIO)
    for key, value in {"device.id": "bench-console", "camera.source": f"sim:{tmp / 'scenario.yaml'}",
                       "rules.bag_outside_bin.incident_after_s": 5, "schedule.opening_hours": [],
                       "uplink.http.enabled": False, "voice.player": "sim", "voice.quiet_hours": None,
                       "storage.state_dir": str(tmp / "state"), "storage.cache_dir": str(tmp / "cache"),
                       "storage.runtime_dir": str(tmp / "run")}.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def wait(pred, timeout: float, what: str):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = pred()
        if value:
            return value
        time.sleep(0.2)
    raise SystemExit(f"timed out waiting for {what}")


class Poller(threading.Thread):
    """Asks the console what open pages would, while `active` is set."""

    def __init__(self, url: str, sensors: list[str], state_every: float, frame_every: float):
        super().__init__(daemon=True)
        self.url, self.sensors = url, sensors
        self.plan = [(state_every, lambda: self._get("/api/state")), (frame_every, lambda: self._get("/api/frame.jpg")),
                     (10.0, lambda: [self._get(f"/api/history?sensor={s}&hours=24") for s in self.sensors])]
        self.active = threading.Event()
        self.stopped = threading.Event()
        self.requests = 0
        self.errors = 0
        self.session = requests.Session()

    def _get(self, path: str) -> None:
        try:
            r = self.session.get(self.url + path, timeout=10)
            self.requests += 1
            self.errors += r.status_code != 200
        except requests.RequestException:
            self.errors += 1

    def run(self) -> None:
        due = [0.0] * len(self.plan)
        while not self.stopped.is_set():
            if not self.active.wait(0.2):
                due = [0.0] * len(self.plan)
                continue
            now = time.monotonic()
            for i, (every, fn) in enumerate(self.plan):
                if now >= due[i]:
                    due[i] = now + every
                    fn()
            time.sleep(0.05)


def measure(agent: int, console: int, seconds: float) -> dict:
    c0, k0, rss = cpu_s(agent), cpu_s(console), []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        rss.append(rss_mb(agent))
        time.sleep(1.0)
    return {"cpu": cpu_s(agent) - c0, "console_cpu": cpu_s(console) - k0, "rss": rss}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--window", type=float, default=30.0, help="seconds per window (default 30)")
    ap.add_argument("--rounds", type=int, default=3, help="idle+console pairs (default 3)")
    ap.add_argument("--warmup", type=float, default=20.0, help="seconds before measuring (default 20)")
    ap.add_argument("--state-every", type=float, default=1.0)
    ap.add_argument("--frame-every", type=float, default=2.0)
    args = ap.parse_args()

    env = {k: v for k, v in os.environ.items() if k not in ("GARBAGE_EDGE_CONFIG", "NOTIFY_SOCKET", "RUNTIME_DIRECTORY")}
    with tempfile.TemporaryDirectory(prefix="bench-console-") as d:
        tmp = Path(d)
        cfg = write_config(tmp)
        agent = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(cfg), "run", "--simulation"], env=env,
                                 stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        port = free_port()
        console = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(cfg), "console", "--port", str(port)],
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=ROOT)
        url = f"http://127.0.0.1:{port}"
        poller = None
        try:
            def state():
                try:
                    return ask(tmp / "run" / "control.sock", {"op": "state"})["state"]
                except ControlError:
                    return None

            sensors = [r["id"] for r in wait(state, 60, "the agent's control socket")["readings"]]

            def up():
                try:
                    return requests.get(url + "/api/health", timeout=1).ok
                except requests.RequestException:
                    return False

            wait(up, 30, "the console")
            time.sleep(args.warmup)
            poller = Poller(url, sensors, args.state_every, args.frame_every)
            poller.start()
            sides: dict[str, list[dict]] = {"idle": [], "console": []}
            served = 0
            for _ in range(args.rounds):
                for side in ("idle", "console"):
                    if side == "console":
                        poller.active.set()
                    before = poller.requests
                    sides[side].append(measure(agent.pid, console.pid, args.window))
                    poller.active.clear()
                    if side == "console":
                        served += poller.requests - before
                    time.sleep(0.5)  # the last request of a console window finishes outside both windows
        finally:
            if poller is not None:
                poller.stopped.set()
            for p in (console, agent):
                p.terminate()
                try:
                    p.wait(20)
                except subprocess.TimeoutExpired:
                    p.kill()

    print(f"agent on a steady simulated room (a bag on the floor, an open incident); {args.rounds} x {args.window:g} s per side, windows alternating; "
          f"console side: /api/state every {args.state_every:g} s, /api/frame.jpg every {args.frame_every:g} s, "
          f"/api/history every 10 s ({served} requests, {poller.errors} errors)")
    print(f"{'side':<9}{'agent CPU s/window':>20}{'% of a core':>13}{'RSS mean MB':>13}{'RSS max MB':>12}"
          f"{'console CPU s/window':>22}")
    figures = {}
    for side, runs in sides.items():
        cpu = statistics.mean(r["cpu"] for r in runs)
        rss = [x for r in runs for x in r["rss"]]
        figures[side] = (cpu, statistics.mean(rss), max(rss))
        console_cpu = statistics.mean(r["console_cpu"] for r in runs)
        spread = f" ±{statistics.stdev(r['cpu'] for r in runs):.2f}" if len(runs) > 1 else ""
        print(f"{side:<9}{cpu:>14.2f}{spread:>6}{100 * cpu / args.window:>12.1f}%{figures[side][1]:>13.1f}"
              f"{figures[side][2]:>12.1f}{console_cpu:>22.2f}")
    (ci, ri, mi), (cc, rc, mc) = figures["idle"], figures["console"]
    print(f"ratio console/idle: agent CPU {cc / ci:.3f}, RSS mean {rc / ri:.3f}, RSS max {mc / mi:.3f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
