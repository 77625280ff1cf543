"""Incident lifecycle (pure): ids, revisions, one open incident per subject, contract fields."""
import datetime as dt
import json
import uuid

import pytest

from edge.config import Config
from edge.incidents import IncidentBook, Subject, format_time

SITE = {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "某路 1 号",
        "responsible": {"name": "某物业", "phone": "021-000"}}
T0 = dt.datetime(2026, 11, 28, 11, 2, 11, 412000, tzinfo=dt.timezone.utc).timestamp()  # 19:02:11.412 +08:00


def book(**kw):
    return IncidentBook("hk-jxl-piaoying-03", SITE, "Asia/Shanghai", **kw)


def test_open_update_resolve_matches_contract():
    b = book()
    floor = Subject(zone="floor")
    d1 = b.open("bag_outside_bin", floor, {"dwell_s": 61.0, "count": 1}, T0,
                snapshot={"sha256": "ab" * 32, "bytes": 48213})
    assert d1["rev"] == 1 and d1["state"] == "open" and d1["resolved_at"] is None
    assert uuid.UUID(d1["id"]).version == 4
    assert d1["opened_at"] == "2026-11-28T19:02:11.412+08:00" == d1["updated_at"]
    assert d1["site"] == SITE and d1["device_id"] == "hk-jxl-piaoying-03"
    assert d1["subject"] == {"zone": "floor", "bin_id": None, "sensor_id": None}
    assert d1["snapshot"] == {"sha256": "ab" * 32, "bytes": 48213, "content_type": "image/jpeg"}
    assert d1["schema"] == "garbage-edge/incident@1" and d1["severity"] == "warning"
    d2 = b.update("bag_outside_bin", floor, T0 + 5, reminders=1)
    assert d2["rev"] == 2 and d2["reminders"] == 1 and d2["id"] == d1["id"]
    d3 = b.resolve("bag_outside_bin", floor, T0 + 448.591, {"dwell_s": 449.0})
    assert d3["rev"] == 3 and d3["state"] == "resolved"
    assert d3["resolved_at"] == "2026-11-28T19:09:40.003+08:00" == d3["updated_at"]
    assert d3["measurements"] == {"dwell_s": 449.0, "count": 1}
    assert d3["opened_at"] == d1["opened_at"]
    assert set(d3) == {"schema", "id", "rev", "device_id", "type", "state", "severity", "opened_at", "updated_at",
                       "resolved_at", "site", "subject", "measurements", "reminders", "snapshot"}
    json.dumps(d3)  # plain JSON
    assert b.get("bag_outside_bin", floor) is None
    assert b.resolve("bag_outside_bin", floor, T0 + 500) is None  # nothing open any more


def test_one_open_incident_per_subject():
    b = book()
    d1 = b.open("bin_full", {"bin_id": "bin-1"}, {"fill_pct": 91.0}, T0)
    again = b.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 95.0}, T0 + 1)
    assert again["id"] == d1["id"] and again["rev"] == 2 and again["measurements"]["fill_pct"] == 95.0
    assert b.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 95.0}, T0 + 2) is None  # no change, no revision
    other = b.open("bin_full", Subject(bin_id="bin-2"), {"fill_pct": 92.0}, T0)
    odor = b.open("odor_high", Subject(sensor_id="odor-1"), {"nh3_ppm": 12.0}, T0)
    assert len({d1["id"], other["id"], odor["id"]}) == 3
    assert len(b.open_incidents()) == 3
    b.resolve("bin_full", Subject(bin_id="bin-1"), T0 + 10)
    new = b.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 93.0}, T0 + 20)
    assert new["id"] != d1["id"] and new["rev"] == 1  # a fresh incident after resolution


def test_bin_emptied_is_one_shot_and_resolved():
    b = book()
    d = b.event("bin_emptied", Subject(bin_id="bin-1"), {"fill_pct_before": 93.0, "fill_pct_after": 4.0}, T0)
    assert d["state"] == "resolved" and d["rev"] == 1 and d["resolved_at"] == d["opened_at"]
    assert d["severity"] == "info" and d["snapshot"] is None
    assert b.open_incidents() == []
    with pytest.raises(ValueError):
        b.open("bin_emptied", Subject(bin_id="bin-1"), {}, T0)
    with pytest.raises(ValueError):
        b.open("bag_on_moon", Subject(zone="floor"), {}, T0)


def test_restore_continues_open_incidents_without_duplicates():
    b = book()
    d = b.open("odor_high", Subject(sensor_id="odor-1"), {"nh3_ppm": 12.0}, T0)
    d2 = b.update("odor_high", Subject(sensor_id="odor-1"), T0 + 1, {"nh3_ppm": 14.0})
    closed = b.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 91.0}, T0)
    closed2 = b.resolve("bin_full", Subject(bin_id="bin-1"), T0 + 2)
    restored = book(restore=[d2, closed2])  # what the outbox holds as newest revisions
    assert [x["id"] for x in restored.open_incidents()] == [d["id"]]
    d3 = restored.open("odor_high", Subject(sensor_id="odor-1"), {"nh3_ppm": 20.0}, T0 + 3)
    assert d3["id"] == d["id"] and d3["rev"] == 3
    assert restored.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 91.0}, T0 + 4)["id"] != closed["id"]


def test_forget_pruned_snapshots_gives_null_revision():
    b = book()
    d = b.open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 60.0, "count": 1}, T0,
               snapshot={"sha256": "cd" * 32, "bytes": 10})
    b.open("bin_full", Subject(bin_id="bin-1"), {"fill_pct": 91.0}, T0)
    docs = b.forget_snapshots(["cd" * 32], T0 + 1)
    assert [(x["id"], x["rev"], x["snapshot"]) for x in docs] == [(d["id"], 2, None)]
    assert b.forget_snapshots(["cd" * 32], T0 + 2) == []


def test_times_carry_device_offset_and_site_from_config():
    cfg = Config()
    cfg.device.timezone = "Europe/Berlin"
    cfg.device.site.community = "Kiez"
    b = IncidentBook.from_config(cfg)
    d = b.open("camera_fault", Subject(sensor_id="cam"), {"reason": "stalled"}, T0)
    assert d["opened_at"] == "2026-11-28T12:02:11.412+01:00"
    assert d["site"]["community"] == "Kiez" and d["severity"] == "critical"
    assert format_time(dt.datetime(2026, 6, 1, 0, 0, tzinfo=dt.timezone.utc), b.tz) == "2026-06-01T02:00:00.000+02:00"
    with pytest.raises(ValueError):
        format_time(dt.datetime(2026, 6, 1), b.tz)
