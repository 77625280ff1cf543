"""The agent's routing: what vision and sensors report becomes incidents at a real receiver,
voice reminders and relay switches; a restart never duplicates an open incident; the service
keeps its old config when a reload is invalid. No trained model needed: vision events are
injected as the pipeline would emit them."""
from __future__ import annotations

import threading
import time
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.config.edit import edited_text
from edge.config.loader import validate_text
from edge.runtime.agent import Agent
from edge.runtime.service import Service
from edge.sensing.alarms import AlarmEvent
from edge.uplink.sysinfo import disk_free_mb
from edge.vision.bag_rules import BagEvent
from uplink_support import receiver_in_thread

ROOT = Path(__file__).resolve().parent.parent


class NoDetector:
    def detect(self, frame):
        return []


def _jpeg() -> bytes:
    ok, buf = cv2.imencode(".jpg", np.full((48, 64, 3), 90, np.uint8))
    assert ok
    return buf.tobytes()


@pytest.fixture
def receiver(tmp_path):
    with receiver_in_thread(tmp_path / "receiver.db") as running:
        yield running


def _config_text(tmp: Path, port: int, **extra) -> str:
    (tmp / "token").write_text("t0k\n")
    text = (ROOT / "config" / "default.yaml").read_text()
    changes = {
        "device.id": "routing-room",
        "sensors": [],
        "voice.player": "sim",
        "voice.quiet_hours": None,
        "schedule.opening_hours": [],
        "actuators[0].min_off_s": 0,
        "uplink.http.base_url": f"http://127.0.0.1:{port}/api",
        "uplink.http.token_file": "token",
        "uplink.http.token_credential": None,
        "storage.state_dir": str(tmp / "state"),
        "storage.cache_dir": str(tmp / "cache"),
        **extra,
    }
    for key, value in changes.items():
        text = edited_text(text, key, value)
    return text


def _agent(tmp: Path, port: int, events: list) -> Agent:
    cfg, _ = validate_text(_config_text(tmp, port), "config.yaml", tmp)
    agent = Agent(cfg, tmp, listener=events.append, detector=NoDetector())
    agent.start()
    return agent


def _wait(pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if pred():
            return True
        time.sleep(0.05)
    return False


def _docs(store, type_=None):
    return [i["doc"] for i in store.incidents() if type_ is None or i["doc"]["type"] == type_]


def test_bag_events_become_one_incident_with_evidence_and_a_reminder(tmp_path, receiver):
    server, store = receiver
    events: list = []
    agent = _agent(tmp_path, server.server_address[1], events)
    try:
        agent._put(("bag", BagEvent("reminder_due", 3.0, "floor", 1, 3.0)))
        agent._put(("bag", BagEvent("incident_open", 60.0, "floor", 1, 60.0, snapshot_jpeg=_jpeg())))
        agent._put(("bag", BagEvent("incident_update", 75.0, "floor", 2, 75.0, snapshot_jpeg=_jpeg())))
        # a second pile elsewhere on the floor is its own incident
        agent._put(("bag", BagEvent("incident_open", 80.0, "floor", 1, 60.0, snapshot_jpeg=_jpeg(), place_id=2)))
        agent._put(("bag", BagEvent("incident_resolved", 90.0, "floor", 0, 90.0, place_id=1)))
        assert _wait(lambda: any(d["state"] == "resolved" for d in _docs(store, "bag_outside_bin")))
        docs = {d["subject"]["zone"]: d for d in _docs(store, "bag_outside_bin")}
        assert set(docs) == {"floor", "floor-2"}
        first = docs["floor"]
        assert first["state"] == "resolved" and first["rev"] >= 3
        assert first["reminders"] == 1, "the reminder spoken before the incident is counted on it"
        assert first["site"]["point_id"] == "DEMO-0001" and first["device_id"] == "routing-room"
        assert docs["floor-2"]["state"] == "open"
        assert _wait(lambda: store.snapshot(first["id"]) is not None)
        assert _wait(lambda: [e["prompt"] for e in events if e["what"] == "voice"] == ["bag_on_floor"], 20)
    finally:
        agent.stop()


def test_sensor_alarms_drive_incidents_relay_and_voice(tmp_path, receiver):
    server, store = receiver
    events: list = []
    agent = _agent(tmp_path, server.server_address[1], events)
    try:
        subject = {"bin_id": None, "sensor_id": "odor-1"}
        agent._put(("alarm", AlarmEvent("open", "odor_high", subject, {"nh3_ppm": 18.0}, 1.0)))
        assert _wait(lambda: [e for e in events if e["what"] == "relay" and e["on"]])
        agent._put(("alarm", AlarmEvent("resolve", "odor_high", subject, {"nh3_ppm": 2.0}, 2.0)))
        assert _wait(lambda: [e for e in events if e["what"] == "relay" and not e["on"]])
        agent._put(("alarm", AlarmEvent("event", "bin_emptied", {"bin_id": "bin-1", "sensor_id": "bin-1-level"},
                                        {"fill_pct_before": 95.0, "fill_pct_after": 4.0}, 3.0)))
        assert _wait(lambda: len(_docs(store)) == 2)
        odor = _docs(store, "odor_high")[0]
        assert odor["state"] == "resolved" and odor["measurements"]["nh3_ppm"] == 2.0
        emptied = _docs(store, "bin_emptied")[0]
        assert emptied["state"] == "resolved" and emptied["rev"] == 1 and emptied["subject"]["bin_id"] == "bin-1"
        assert _wait(lambda: "odor_ventilation" in [e["prompt"] for e in events if e["what"] == "voice"], 20)
    finally:
        agent.stop()


def test_a_restart_continues_open_incidents(tmp_path, receiver):
    server, store = receiver
    port = server.server_address[1]
    agent = _agent(tmp_path, port, [])
    agent._put(("alarm", AlarmEvent("open", "bin_full", {"bin_id": "bin-1", "sensor_id": "s"}, {"fill_pct": 95.0}, 1)))
    assert _wait(lambda: _docs(store, "bin_full"))
    agent.stop()
    agent = _agent(tmp_path, port, [])
    try:
        agent._put(("alarm", AlarmEvent("open", "bin_full", {"bin_id": "bin-1", "sensor_id": "s"}, {"fill_pct": 97.0}, 1)))
        agent._put(("alarm", AlarmEvent("resolve", "bin_full", {"bin_id": "bin-1", "sensor_id": "s"}, {"fill_pct": 5.0}, 2)))
        assert _wait(lambda: any(d["state"] == "resolved" for d in _docs(store, "bin_full")))
        assert len(_docs(store, "bin_full")) == 1, "the restart continued the incident instead of opening another"
    finally:
        agent.stop()


def test_telemetry_reaches_the_platform(tmp_path, receiver):
    server, store = receiver
    agent = _agent(tmp_path, server.server_address[1], [])
    try:
        agent.tick()
        assert _wait(lambda: store.telemetry())
        doc = store.telemetry()[0]["doc"]
        assert doc["schema"] == "garbage-edge/telemetry@1" and doc["device_id"] == "routing-room"
        health = doc["health"]
        assert health["camera"] in ("ok", "starting") and health["dead_letters"] == 0
        assert health["outbox_pending"] in (0, 1)  # at most this telemetry document itself
        free = disk_free_mb(tmp_path)
        assert abs(health["disk_free_mb"] - free) <= 64, (health["disk_free_mb"], free)
        # the voice worker's failure counters reach the platform, not only the local log: none failed yet
        assert {k: health["voice"][k] for k in ("failed", "killed", "render_failed", "stale")} == \
            {"failed": 0, "killed": 0, "render_failed": 0, "stale": 0}
        assert isinstance(health["voice"]["played"], int) and health["voice"]["played"] >= 0
    finally:
        agent.stop()


def test_health_carries_each_sensors_error_counters(tmp_path):
    cfg, _ = validate_text(_config_text(tmp_path, 9), "config.yaml", tmp_path)
    agent = Agent(cfg, tmp_path, detector=NoDetector())

    class Sensors:
        def snapshot(self):
            return {"bin-1-level": {"state": "ok", "stats": {"frames": 90, "garbled": 3, "skipped_bytes": 7,
                                                             "reconnects": 1, "losses": 1, "samples": 88}}}

    agent.sensors = Sensors()
    h = agent.health()
    assert h["sensors"] == {"bin-1-level": "ok"}
    assert h["sensor_counters"] == {"bin-1-level": {"garbled": 3, "reconnects": 1, "losses": 1}}


class FakeAgent:
    def __init__(self, cfg, voice_memory=None):
        self.cfg = cfg
        self.stopped = False
        self.voice_memory_in = voice_memory

    def voice_memory(self):
        return {"last": {("floor", "bag_on_floor"): id(self)}, "counts": {}}

    def summary(self):
        return "fake"

    def tick(self, now=None):
        pass

    def stale_loops(self, now=None):
        return []

    def stop(self):
        self.stopped = True


def test_reload_keeps_the_old_config_when_the_new_one_is_invalid(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(_config_text(tmp_path, 9))
    built = []

    def factory(cfg, base_dir, **kw):
        built.append(FakeAgent(cfg, kw.get("voice_memory")))
        return built[-1]

    service = Service(path, agent_factory=factory, simulation=True)
    runner = threading.Thread(target=service.run, daemon=True)
    runner.start()
    assert _wait(lambda: built)
    path.write_text(path.read_text().replace("  fps: 10 ", "  fps: nope "))
    assert service.reload() is False
    assert len(built) == 1 and not built[0].stopped
    path.write_text(edited_text(_config_text(tmp_path, 9), "camera.fps", 5))
    assert service.reload() is True
    assert len(built) == 2 and built[0].stopped and built[1].cfg.camera.fps == 5
    # what the old agent said rides into the new one (no repeated reminder after a reload)
    assert built[0].voice_memory_in is None and built[1].voice_memory_in == built[0].voice_memory()
    service.request_stop()
    runner.join(5)
    assert not runner.is_alive() and built[1].stopped


@pytest.mark.parametrize("model", ["none.onnx", "text.onnx"])
def test_gedge_run_with_a_missing_or_wrong_model_is_one_line_and_exit_2(tmp_path, model):
    import subprocess
    import sys

    from edge.paths import bundled_default_config

    (tmp_path / "text.onnx").write_text("not a model\n")
    text = bundled_default_config().read_text(encoding="utf-8")
    for key, value in [("vision.model", str(tmp_path / model)), ("uplink.http.enabled", False),
                       ("storage.state_dir", str(tmp_path / "state")), ("storage.cache_dir", str(tmp_path / "cache"))]:
        text = edited_text(text, key, value)
    (tmp_path / "config.yaml").write_text(text, encoding="utf-8")
    run = subprocess.run([sys.executable, "-m", "edge", "run", "--simulation", "--config", str(tmp_path / "config.yaml")],
                         capture_output=True, text=True, timeout=120, cwd=str(ROOT))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "gedge run: " in run.stderr and model in run.stderr
