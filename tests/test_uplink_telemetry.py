"""Telemetry document builder and schedule (pure)."""
import datetime as dt

from edge.uplink import TelemetrySchedule, build_telemetry
from edge.uplink.sysinfo import cpu_temp_c, disk_free_mb, system_uptime_s

T0 = dt.datetime(2026, 11, 28, 11, 2, 12, 1000, tzinfo=dt.timezone.utc).timestamp()


def test_document_matches_contract():
    health = {"uptime_s": 86400, "camera": "ok", "sensors": {"bin-1": "ok"}, "disk_free_mb": 5120, "cpu_temp_c": 51.2}
    readings = {"bin-1": {"fill_pct": 72.5}, "odor-1": {"nh3_ppm": 3.1, "h2s_ppm": 0.02}}
    doc = build_telemetry("hk-jxl-piaoying-03", "Asia/Shanghai", T0, readings, health,
                          outbox_counts={"pending": 3, "dead_letters": 1, "telemetry_backlog": 9})
    assert doc == {
        "schema": "garbage-edge/telemetry@1",
        "device_id": "hk-jxl-piaoying-03",
        "sent_at": "2026-11-28T19:02:12.001+08:00",
        "readings": readings,
        "health": {**health, "outbox_pending": 3, "dead_letters": 1},
    }
    readings["bin-1"]["fill_pct"] = 0  # the document is a copy
    assert doc["readings"]["bin-1"]["fill_pct"] == 72.5
    bare = build_telemetry("d", "UTC", T0, {}, {})
    assert bare["health"] == {"outbox_pending": 0, "dead_letters": 0}


def test_schedule_periodic_and_on_change():
    s = TelemetrySchedule(60.0, min_gap_s=1.0)
    assert s.due(0.0)
    s.sent(0.0)
    assert not s.due(30.0) and s.due(60.0)
    assert not s.due(0.5, changed=True)  # a flapping state cannot flood the uplink
    assert s.due(2.0, changed=True)
    s.sent(2.0)
    assert not s.due(61.0) and s.due(62.0)


def test_sysinfo_figures(tmp_path):
    assert disk_free_mb(tmp_path) > 0
    assert disk_free_mb(tmp_path / "missing") is None
    assert system_uptime_s() > 0
    t = cpu_temp_c()
    assert t is None or -40 < t < 150
