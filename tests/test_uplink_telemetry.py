"""Telemetry document builder and schedule (pure)."""
import datetime as dt

from edge.uplink import TelemetrySchedule, build_telemetry
from edge.uplink.sysinfo import cpu_temp_c, disk_free_mb

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
    import os

    st = os.statvfs(tmp_path)
    assert abs(disk_free_mb(tmp_path) - st.f_bavail * st.f_frsize // (1024 * 1024)) <= 64  # others write too
    assert disk_free_mb(tmp_path / "missing") is None


def test_cpu_temperature_reads_millidegrees(tmp_path):
    zone = tmp_path / "temp"
    zone.write_text("51234\n")
    assert cpu_temp_c(zone) == 51.2
    zone.write_text("-5500\n")
    assert cpu_temp_c(zone) == -5.5
    zone.write_text("not a number\n")
    assert cpu_temp_c(zone) is None
    assert cpu_temp_c(tmp_path / "no-such-zone") is None
