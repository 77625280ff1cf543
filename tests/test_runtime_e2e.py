"""End to end: `gedge run` as systemd runs it, on the simulated camera, serial sensors on socat
ptys and a real `gedge receiver`: incidents arrive and resolve, SIGHUP with a broken config
keeps it running, SIGTERM exits 0, and the notify socket gets READY=1 and WATCHDOG=1 — which
stops when the camera loop is wedged."""
from __future__ import annotations

import hashlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from edge.config.edit import edited_text
from edge.receiver import ReceiverStore
from uplink_support import free_port, start_receiver, stop, wait_until

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "garbage-yolo.onnx"

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed"),
    pytest.mark.skipif(not MODEL.exists(), reason="the shipped model models/garbage-yolo.onnx is missing"),
]

SCENARIO = """
name: e2e
description: a bag dropped and taken away; bin-1 fills and is emptied
duration_s: 120
rules: {remind_after_s: 2, incident_after_s: 6, clear_after_s: 3}
timeline:
  - {t: 1, action: enter, actor: p1, from: right, to: [520, 390], carrying: black_bag, bag: b1}
  - {t: 4, action: drop, actor: p1, at: [545, 405]}
  - {t: 5, action: leave, actor: p1, to: right}
  - {t: 20, action: enter, actor: cleaner, role: cleaner, from: left, to: [510, 400]}
  - {t: 24, action: pick_up, actor: cleaner, bag: b1}
  - {t: 25, action: leave, actor: cleaner, to: left}
sensors:
  bin-1-level: [[0, 900], [3, 900], [8, 220], [22, 220], [24, 1150], [120, 1150]]
  odor-1: [[0, 2.0], [120, 2.0]]
"""


class NotifySocket:
    """A datagram socket standing in for systemd's $NOTIFY_SOCKET; records (time, message)."""

    def __init__(self, path: Path):
        self.path = str(path)
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.sock.settimeout(0.2)
        self.messages: list[tuple[float, str]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                continue
            except OSError:
                return
            for line in data.decode().splitlines():
                self.messages.append((time.monotonic(), line))

    def times(self, message: str) -> list[float]:
        return [t for t, m in self.messages if m == message]

    def close(self) -> None:
        self._stop.set()
        self._thread.join(1)
        self.sock.close()


def _write_config(tmp: Path, scenario: Path, port: int, dev: Path, **extra) -> Path:
    text = (ROOT / "config" / "default.yaml").read_text()
    changes = {
        "device.id": "e2e-room",
        "camera.source": f"sim:{scenario}",
        "camera.stall_timeout_s": 3,
        "rules.bag_outside_bin.remind_after_s": 2,
        "rules.bag_outside_bin.incident_after_s": 6,
        "rules.bag_outside_bin.clear_after_s": 3,
        "rules.bin_full.min_duration_s": 2,
        "rules.bin_emptied.hold_s": 5,  # the scenario's bin is full for 14 s
        "sensors[0].driver": "a02yy",
        "sensors[0].port": str(dev / "bin-1-level"),
        "sensors[1].driver": "ze03",
        "sensors[1].port": str(dev / "odor-1"),
        "voice.quiet_hours": None,
        "voice.player": "sim",
        "schedule.opening_hours": [],
        "uplink.http.base_url": f"http://127.0.0.1:{port}/api",
        "uplink.http.token_file": str(tmp / "token"),
        "uplink.http.token_credential": None,
        "uplink.telemetry_s": 5,
        "storage.state_dir": str(tmp / "state"),
        "storage.cache_dir": str(tmp / "cache"),
        **extra,
    }
    for key, value in changes.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text)
    return path


@pytest.fixture
def room(tmp_path):
    """Receiver, sensor ptys with emulators playing the scenario, and the paths the agent needs."""
    from hw.sensors.emulator import EmulatedSensors
    from hw.sim import load_scenario

    scenario = tmp_path / "e2e.yaml"
    scenario.write_text(SCENARIO)
    sc = load_scenario(scenario)
    (tmp_path / "token").write_text("e2e-token\n")
    port = free_port()
    receiver = start_receiver(port, tmp_path / "receiver.db", tmp_path / "token")
    dev = tmp_path / "dev"
    dev.mkdir()
    sensors = EmulatedSensors(dev, [("bin-1-level", "a02yy"), ("odor-1", "ze03")], sc.sensor_value)
    yield {"tmp": tmp_path, "scenario": scenario, "port": port, "dev": dev}
    sensors.close()
    stop(receiver)


def _start_agent(config: Path, notify: NotifySocket, log: Path) -> subprocess.Popen:
    env = {**os.environ, "NOTIFY_SOCKET": notify.path, "PYTHONUNBUFFERED": "1"}
    env.pop("GARBAGE_EDGE_CONFIG", None)
    return subprocess.Popen([sys.executable, "-m", "edge", "--config", str(config), "run", "--simulation"], env=env,
                            stdout=log.open("w"), stderr=subprocess.STDOUT, cwd=ROOT)


def _incidents(db: Path) -> list[dict]:
    store = ReceiverStore(db)
    try:
        return [i["doc"] for i in store.incidents()]
    finally:
        store.close()


def _resolved(db: Path, type_: str) -> bool:
    return any(d["type"] == type_ and d["state"] == "resolved" for d in _incidents(db))


def test_agent_end_to_end(room):
    tmp = room["tmp"]
    config = _write_config(tmp, room["scenario"], room["port"], room["dev"])
    notify = NotifySocket(tmp / "notify.sock")
    log = tmp / "agent.log"
    started = time.monotonic()
    agent = _start_agent(config, notify, log)
    try:
        wait_until(lambda: notify.times("READY=1"), 20, what="READY=1")
        ready_after = notify.times("READY=1")[0] - started
        db = tmp / "receiver.db"
        wait_until(lambda: _resolved(db, "bag_outside_bin"), 60, step=0.5, what="the bag incident resolved")
        wait_until(lambda: _resolved(db, "bin_full"), 30, step=0.5, what="bin_full resolved")
        docs = _incidents(db)
        bags = [d for d in docs if d["type"] == "bag_outside_bin"]
        assert len(bags) == 1, f"one bag, one incident: {bags}"
        assert bags[0]["rev"] >= 2 and bags[0]["site"]["point_id"]
        assert any(d["type"] == "bin_emptied" and d["measurements"]["fill_pct_before"] > 80 for d in docs)
        store = ReceiverStore(db)
        try:
            wait_until(lambda: store.snapshot(bags[0]["id"], role="resolve"), 20, step=0.5,
                       what="the picture of the cleared place")
            opening, closing = store.snapshot(bags[0]["id"], role="open"), store.snapshot(bags[0]["id"], role="resolve")
            assert opening[:2] == closing[:2] == b"\xff\xd8", "the bag incident carries its evidence JPEGs"
            assert opening != closing, "the resolve carries a new picture of the place, not the opening one"
            assert bags[0]["snapshot"]["sha256"] == hashlib.sha256(closing).hexdigest()
            for picture in (opening, closing):  # each picture says which incident and where
                assert f"incident_id={bags[0]['id']}".encode() in picture and b"device_id=e2e-room" in picture
            wait_until(lambda: any(t["doc"]["readings"].get("bin-1-level") for t in store.telemetry()), 20,
                       step=0.5, what="telemetry with the fill level")
            latest = next(t["doc"] for t in store.telemetry() if t["doc"]["readings"].get("bin-1-level"))
            assert latest["schema"] == "garbage-edge/telemetry@1" and latest["device_id"] == "e2e-room"
            assert 0 <= latest["readings"]["bin-1-level"]["fill_pct"] <= 100
            assert latest["health"]["camera"] == "ok" and latest["health"]["sensors"]["bin-1-level"] == "ok"
            assert latest["health"]["dead_letters"] == 0
        finally:
            store.close()

        # watchdog pings arrive regularly while all loops are alive
        pings = notify.times("WATCHDOG=1")
        assert len(pings) >= 10
        gaps = [b - a for a, b in zip(pings, pings[1:])]
        assert max(gaps) < 3.0

        # SIGHUP with an invalid config: logged, and the agent keeps running on the old one
        good = config.read_text()
        config.write_text(good.replace("  fps: 10 ", "  fps: -10 "))
        agent.send_signal(signal.SIGHUP)
        time.sleep(2.5)
        assert agent.poll() is None
        assert "reload refused" in log.read_text()
        n = len(notify.times("WATCHDOG=1"))
        time.sleep(2.5)
        assert len(notify.times("WATCHDOG=1")) > n, "still alive and pinging after the refused reload"

        # a valid config reloads
        config.write_text(edited_text(good, "uplink.telemetry_s", 7))
        agent.send_signal(signal.SIGHUP)
        wait_until(lambda: len(notify.times("READY=1")) >= 2, 20, what="READY=1 after the reload")
        assert notify.times("RELOADING=1")

        agent.send_signal(signal.SIGTERM)
        assert agent.wait(20) == 0
        assert notify.times("STOPPING=1")
    finally:
        if agent.poll() is None:
            agent.kill()
        notify.close()
    print(f"start to READY: {ready_after:.2f} s")


def test_watchdog_stops_when_the_camera_loop_is_wedged(room):
    tmp = room["tmp"]
    hung = tmp / "hang.yaml"
    hung.write_text(SCENARIO.replace("name: e2e", "name: hang\ncamera_hang_s: 4"))
    config = _write_config(tmp, hung, room["port"], room["dev"])
    notify = NotifySocket(tmp / "notify.sock")
    agent = _start_agent(config, notify, tmp / "agent.log")
    try:
        wait_until(lambda: notify.times("READY=1"), 20, what="READY=1")
        ready = notify.times("READY=1")[0]
        wait_until(lambda: [t for t in notify.times("WATCHDOG=1") if t > ready], 10, what="a first WATCHDOG=1")
        # the simulated driver hangs at 4 s; the loop counts as dead after the liveness window
        # (20 s): pings must stop then. Waited for, not slept: a loaded machine plays the clip late.
        def silent():
            pings = notify.times("WATCHDOG=1")
            return time.monotonic() - pings[-1] > 3

        wait_until(silent, 4 + 2 * 10 + 20, 0.2, "WATCHDOG=1 to stop while the camera loop is wedged")
        assert any("camera" in m for _, m in notify.messages if m.startswith("STATUS=")), "STATUS says why"
        assert agent.poll() is None
        agent.send_signal(signal.SIGTERM)
        assert agent.wait(30) == 0
    finally:
        if agent.poll() is None:
            agent.kill()
        notify.close()
