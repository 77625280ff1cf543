"""Health and telemetry assembly (pure), and what the agent hands it."""
from __future__ import annotations

from edge.config import Config
from edge.outbox import Outbox
from edge.runtime.agent import Agent
from edge.runtime.health import assemble_health, summary_line
from edge.sensing.alarms import Reading

BASE = dict(uptime_s=12.4, camera="ok", voice={"played": 2, "failed": 0, "secret": 1}, relays={"fan": False},
            open_incidents=1, dropped_events=0, disk_free_mb=500.0, cpu_temp_c=None)


def test_health_shapes_sensor_counters_voice_and_storage():
    h = assemble_health(sensors={"bin-1-level": {"state": "ok", "stats": {"frames": 90, "garbled": 3, "reconnects": 1,
                                                                         "losses": 1, "samples": 88}}},
                        storage={"error": "database or disk is full", "held_revisions": 7, "held_dropped": 0},
                        **BASE)
    assert h["uptime_s"] == 12 and h["sensors"] == {"bin-1-level": "ok"}
    assert h["sensor_counters"] == {"bin-1-level": {"garbled": 3, "reconnects": 1, "losses": 1}}
    assert h["voice"] == {"played": 2, "failed": 0}
    assert h["storage"] == {"ok": False, "error": "database or disk is full", "held_revisions": 7, "held_dropped": 0}
    ok = assemble_health(sensors={}, storage={"error": None, "held_revisions": 0}, **BASE)["storage"]
    assert ok["ok"] is True and ok["error"] is None


def test_summary_line_says_why_incidents_may_be_late():
    assert summary_line("ok", 2, 1, 0, 0) == "camera ok, 2 sensor(s), 1 open incident(s), outbox 0 pending / 0 dead"
    assert summary_line("ok", 2, 1, 3, 0, "readonly").endswith("; storage: readonly")


def test_telemetry_carries_the_readings(tmp_path):
    cfg = Config()
    cfg.device.id = "box-7"
    agent = Agent(cfg, tmp_path)
    agent.outbox = Outbox(tmp_path / "o.sqlite")
    try:
        agent._on_reading(Reading("bin-1-level", "fill", "fill_pct", 300.0, 72.5, "%", 1.0))
        agent._on_reading(Reading("odor-1", "odor", "nh3_ppm", 3.14159, 3.14159, "ppm", 1.0))
        agent._on_reading(Reading("odor-1", "odor", "h2s_ppm", 0.02, 0.02, "ppm", 1.0))
        doc = agent.telemetry_document()
        assert doc["schema"] == "garbage-edge/telemetry@1" and doc["device_id"] == "box-7"
        assert doc["readings"] == {"bin-1-level": {"fill_pct": 72.5}, "odor-1": {"nh3_ppm": 3.142, "h2s_ppm": 0.02}}
        assert doc["health"]["storage"]["ok"] is True and doc["health"]["outbox_pending"] == 0
    finally:
        agent.outbox.close()


def test_the_agent_checks_the_outbox_file_from_time_to_time(tmp_path):
    from edge.runtime.agent import INTEGRITY_CHECK_S

    agent = Agent(Config(), tmp_path)
    agent.outbox = Outbox(tmp_path / "o.sqlite")
    checked = []
    real = agent.outbox.check
    agent.outbox.check = lambda: checked.append(1) or real()
    try:
        start = agent._last_integrity_check
        agent.tick(start + 1.0)
        assert checked == []
        agent.tick(start + INTEGRITY_CHECK_S + 1.0)
        agent.tick(start + INTEGRITY_CHECK_S + 2.0)
        assert checked == [1]
    finally:
        agent.outbox.close()
