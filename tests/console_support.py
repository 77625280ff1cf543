"""Helpers for the console's tests: a real `gedge run --simulation` agent and a real `gedge console`,
each in its own process, on a private config in a temporary folder.

    cfg = write_config(tmp_path, scenario="bin_fills_and_emptied", **{"rules.bin_full.min_duration_s": 2})
    agent = start_agent(cfg, tmp_path / "agent.log")     # returns once its control socket answers
    console = start_console(cfg, port, tmp_path / "console.log")  # returns once it serves /api/state
    ...
    stop(console); stop(agent)
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import requests

from edge.config import load_file
from edge.config.edit import edited_text
from edge.paths import control_socket_path
from edge.runtime.control import ControlError, ask
from uplink_support import free_port, stop, wait_until  # noqa: F401  (re-exported for the tests)

ROOT = Path(__file__).resolve().parent.parent


def write_config(tmp: Path, scenario: str = "bag_dropped_outside", runtime_dir: bool = True, **changes) -> Path:
    """A copy of the bundled default on the simulated room, storing under `tmp`, no uplink, no
    speaker. runtime_dir: give it a runtime folder (as systemd would); False: the state folder
    holds the control socket."""
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    (tmp / "run").mkdir(exist_ok=True)
    base = {
        "device.id": "console-room",
        "camera.source": f"sim:{scenario}",
        "uplink.http.enabled": False,
        "voice.player": "sim",
        "voice.quiet_hours": None,
        "schedule.opening_hours": [],
        "storage.state_dir": str(tmp / "state"),
        "storage.cache_dir": str(tmp / "cache"),
        "storage.runtime_dir": str(tmp / "run") if runtime_dir else str(tmp / "no-such-run-dir"),
    }
    for key, value in {**base, **changes}.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def socket_path(config: Path) -> Path:
    return control_socket_path(load_file(config).storage)


def _env() -> dict[str, str]:
    env = {**os.environ, "PYTHONUNBUFFERED": "1", "PYTHONPATH": str(ROOT) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    for var in ("GARBAGE_EDGE_CONFIG", "NOTIFY_SOCKET", "RUNTIME_DIRECTORY", "JOURNAL_STREAM"):
        env.pop(var, None)
    return env


def start_agent(config: Path, log: Path, timeout_s: float = 60) -> subprocess.Popen:
    """`gedge run --simulation` on `config`; returns once its control socket answers `state`."""
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(config), "run", "--simulation"],
                            env=_env(), stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)
    path = socket_path(config)

    def answers():
        if proc.poll() is not None:
            raise AssertionError(f"the agent exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            return ask(path, {"op": "state"}, timeout_s=2)
        except ControlError:
            return None

    try:
        wait_until(answers, timeout_s, 0.1, "the agent's control socket")
    except BaseException:
        stop(proc)
        raise
    return proc


def start_console(config: Path, port: int, log: Path, host: str = "127.0.0.1", extra: list[str] = (),
                  timeout_s: float = 30) -> subprocess.Popen:
    """`gedge console` on `config`; returns once it answers on host:port."""
    proc = subprocess.Popen([sys.executable, "-m", "edge", "--config", str(config), "console", "--host", host,
                             "--port", str(port), *extra], env=_env(), stdout=log.open("w"),
                            stderr=subprocess.STDOUT, cwd=ROOT)
    url_host = f"[{host}]" if ":" in host else host

    def up():
        if proc.poll() is not None:
            raise AssertionError(f"the console exited {proc.returncode}: {log.read_text()[-3000:]}")
        try:
            return requests.get(f"http://{url_host}:{port}/api/health", timeout=1).status_code == 200
        except requests.RequestException:
            return False

    try:
        wait_until(up, timeout_s, 0.1, "gedge console to listen")
    except BaseException:
        stop(proc)
        raise
    return proc
