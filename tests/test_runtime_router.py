"""The runtime's pure core: events and times in, decisions out. No threads, no sleeps."""
from __future__ import annotations

import datetime as dt

import pytest

from edge.actuators import RelayPolicy
from edge.config import Config
from edge.contract import DEFAULT_SEVERITY
from edge.incidents import IncidentBook, Subject
from edge.runtime.router import Router
from edge.sensing.alarms import AlarmEvent, Reading
from edge.vision.bag_rules import BagEvent
from edge.voice import VoicePolicy

T0 = dt.datetime(2026, 3, 2, 10, 0, tzinfo=dt.timezone(dt.timedelta(hours=8))).timestamp()  # a Monday, 10:00
SNAP = {"sha256": "ab" * 32, "bytes": 100}
FAN = {"odor-1": ("nh3_ppm", 3.0)}


def config() -> Config:
    return Config.model_validate({"schedule": {"opening_hours": []}, "voice": {"quiet_hours": None, "cooldown_s": 0}})


def router(restored=(), relays=None, mono=0.0, cfg=None) -> Router:
    cfg = cfg or config()
    return Router(cfg, VoicePolicy(cfg), relays or {}, restored=restored, mono=mono)


def bag(kind, place=1, count=1, dwell=60.0, seen_by="detector"):
    return BagEvent(kind, dwell, "floor", count, dwell, place_id=place, seen_by=seen_by)


def alarm(action, type_, sensor="odor-1", bin_id=None, **m):
    return AlarmEvent(action, type_, {"bin_id": bin_id, "sensor_id": sensor}, m, 0.0)


def reading(sensor, quantity, value, state="ok"):
    return Reading(sensor, "fill" if quantity == "fill_pct" else "odor", quantity, value, value, "", 0.0, state)


def test_bag_incident_carries_seen_by_and_the_reminder_spoken_before_it():
    r = router()
    d = r.bag(bag("reminder_due", dwell=5), T0, 0.0)
    assert len(d.voice) == 1 and d.voice[0].prompt == "bag_on_floor" and d.revisions == []
    assert d.notes == [{"what": "reminder_due", "zone": "floor", "count": 1, "spoken": True}]
    d = r.bag(bag("incident_open", seen_by="static"), T0 + 60, 1.0, snapshot=SNAP)
    opened = d.revisions[-1]
    assert opened["measurements"]["seen_by"] == "static"
    assert opened["reminders"] == 1, "one counter: the voice policy's count is the incident's"
    assert opened["snapshot"]["sha256"] == SNAP["sha256"]
    # a reminder while open is counted once, on the incident, from the same counter
    d = r.bag(bag("reminder_due"), T0 + 70, 2.0)
    assert d.revisions[-1]["reminders"] == 2 == r.voice.reminders_for("bag:floor:1")
    d = r.bag(bag("incident_resolved", count=0, dwell=90), T0 + 90, 3.0)
    assert d.revisions[-1]["state"] == "resolved" and r.open_count() == 0


def test_a_second_pile_is_its_own_subject():
    r = router()
    a = r.bag(bag("incident_open", place=1), T0, 0.0).revisions[0]
    b = r.bag(bag("incident_open", place=2), T0 + 1, 0.0).revisions[0]
    assert a["subject"]["zone"] == "floor" and b["subject"]["zone"] == "floor-2" and a["id"] != b["id"]


@pytest.mark.parametrize("type_", ["bin_full", "odor_high", "sensor_fault"])
def test_severity_per_type(type_):
    d = router().alarm(alarm("open", type_, reason="x"), T0, 0.0)
    assert d.revisions[0]["severity"] == DEFAULT_SEVERITY[type_]
    assert {"sensor_fault": "critical", "bin_full": "warning", "odor_high": "warning"}[type_] == DEFAULT_SEVERITY[type_]


def test_camera_and_storage_faults_are_critical():
    r = router()
    assert r.camera("fault", "stalled", T0, 0.0).revisions[0]["severity"] == "critical"
    d = r.storage("database or disk is full", T0, 0.0)
    assert d.revisions[0]["type"] == "storage_fault" and d.revisions[0]["severity"] == "critical"
    assert r.storage(None, T0 + 5, 1.0).revisions[0]["state"] == "resolved"
    assert r.storage(None, T0 + 6, 2.0).revisions == []


def test_pruned_picture_gives_a_revision_with_snapshot_null():
    r = router()
    opened = r.bag(bag("incident_open"), T0, 0.0, snapshot=SNAP).revisions[0]
    d = r.bag(bag("incident_open", place=2), T0 + 5, 1.0, snapshot={"sha256": "cd" * 32, "bytes": 9},
              pruned=[SNAP["sha256"]])
    first = d.revisions[0]
    assert first["id"] == opened["id"] and first["rev"] == 2 and first["snapshot"] is None


def test_restored_bag_incident_expires_after_the_grace():
    book = IncidentBook.from_config(config())
    doc = book.open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 60.0, "count": 1}, T0)
    cfg = config()
    rule = cfg.rules.bag_outside_bin
    grace = rule.incident_after_s + rule.clear_after_s + 30.0
    r = router([doc], mono=100.0)
    assert r.idle(T0 + 10, 100.0 + grace - 0.5).revisions == []
    d = r.idle(T0 + 20, 100.0 + grace + 0.5)
    assert [x["state"] for x in d.revisions] == ["resolved"] and d.revisions[0]["id"] == doc["id"]
    assert d.revisions[0]["measurements"]["reason"] == "not seen again after a restart"


def test_restored_bag_seen_again_continues_and_does_not_expire():
    book = IncidentBook.from_config(config())
    doc = book.open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 60.0, "count": 1}, T0)
    r = router([doc], mono=0.0)
    again = r.bag(bag("incident_open", dwell=70), T0 + 10, 1.0).revisions
    assert again[0]["id"] == doc["id"] and again[0]["rev"] == 2
    assert r.idle(T0 + 1000, 10_000.0).revisions == []


def test_relay_hold_runs_out_on_idle_ticks():
    policy = RelayPolicy(on_while="odor_high", hold_s=30.0, min_off_s=0.0)
    r = router(relays={"fan": policy})
    d = r.alarm(alarm("open", "odor_high", nh3_ppm=18.0), T0, 0.0)
    assert [(s.id, s.on) for s in d.relays] == [("fan", True)]
    assert r.alarm(alarm("resolve", "odor_high", nh3_ppm=2.0), T0 + 1, 1.0).relays == []  # the hold holds
    assert r.idle(T0 + 29, 29.0).relays == []
    d = r.idle(T0 + 31, 31.0)
    assert [(s.id, s.on, s.reason) for s in d.relays] == [("fan", False, "idle")]


def _restored(type_, sensor, bin_id=None, **m):
    book = IncidentBook.from_config(config())
    return book.open(type_, {"bin_id": bin_id, "sensor_id": sensor}, m, T0)


def test_restored_bin_full_resolves_when_the_first_reading_shows_it_emptied():
    doc = _restored("bin_full", "bin-1-level", "bin-1", fill_pct=95.0)
    r = router([doc])
    assert r.awaiting_readings()
    d = r.reading(reading("bin-1-level", "fill_pct", 4.0), T0 + 5, 1.0)
    assert [(x["id"], x["state"]) for x in d.revisions] == [(doc["id"], "resolved")]
    assert d.revisions[0]["measurements"]["reason"] == "cleared while the agent was down"
    assert not r.awaiting_readings()


def test_restored_bin_full_that_holds_stays_open():
    r = router([_restored("bin_full", "bin-1-level", "bin-1", fill_pct=95.0)])
    assert r.reading(reading("bin-1-level", "fill_pct", 96.0), T0 + 5, 1.0).revisions == []
    assert r.open_count() == 1
    # emptied before the fresh alarm state opened it (min_duration_s): still resolved
    d = r.reading(reading("bin-1-level", "fill_pct", 3.0), T0 + 9, 2.0)
    assert [x["state"] for x in d.revisions] == ["resolved"] and not r.awaiting_readings()


def test_the_fresh_alarm_state_takes_a_restored_incident_over():
    doc = _restored("bin_full", "bin-1-level", "bin-1", fill_pct=95.0)
    r = router([doc])
    d = r.alarm(alarm("open", "bin_full", sensor="bin-1-level", bin_id="bin-1", fill_pct=97.0), T0 + 30, 30.0)
    assert d.revisions[0]["id"] == doc["id"] and d.revisions[0]["rev"] == 2 and not r.awaiting_readings()


def test_restored_odor_switches_no_relay_before_a_fresh_reading_and_resolves_in_clean_air():
    policy = RelayPolicy(on_while="odor_high", hold_s=0.0, min_off_s=0.0)
    r = router([_restored("odor_high", "odor-1", nh3_ppm=20.0)], relays={"fan": policy})
    assert r.idle(T0 + 60, 60.0).relays == [], "stale odor_high must not switch the fan on"
    # warm-up readings decide nothing
    assert r.reading(reading("odor-1", "nh3_ppm", 1.0, state="warmup"), T0 + 61, 61.0).revisions == []
    d = r.reading(reading("odor-1", "nh3_ppm", 1.0), T0 + 62, 62.0)
    assert [x["state"] for x in d.revisions] == ["resolved"] and d.relays == []
    assert not policy.is_on


def test_restored_odor_that_holds_switches_the_relay_once_confirmed():
    policy = RelayPolicy(on_while="odor_high", hold_s=0.0, min_off_s=0.0)
    r = router([_restored("odor_high", "odor-1", nh3_ppm=20.0)], relays={"fan": policy})
    d = r.reading(reading("odor-1", "nh3_ppm", 25.0), T0 + 5, 5.0)
    assert d.revisions == [] and [(s.id, s.on) for s in d.relays] == [("fan", True)]


def test_restored_sensor_fault_resolves_on_the_first_reading():
    r = router([_restored("sensor_fault", "bin-1-level", "bin-1", reason="no valid reading")])
    assert r.reading(reading("other", "fill_pct", 50.0), T0, 0.0).revisions == []
    d = r.reading(reading("bin-1-level", "fill_pct", 50.0), T0 + 1, 1.0)
    assert [x["state"] for x in d.revisions] == ["resolved"]


def test_outbox_replaced_is_told_and_closed():
    d = router().outbox_replaced("outbox.sqlite: file is not a database; moved aside", T0)
    assert [(x["type"], x["state"], x["rev"]) for x in d.revisions] == [("storage_fault", "open", 1),
                                                                        ("storage_fault", "resolved", 2)]
    assert "file is not a database" in d.revisions[0]["measurements"]["reason"]


def test_a_restored_storage_fault_resolves_when_the_disk_takes_writes():
    doc = IncidentBook.from_config(config()).open("storage_fault", Subject(zone="storage"),
                                                  {"reason": "database or disk is full"}, T0)
    r = router([doc])
    d = r.storage(None, T0, 0.0)
    assert [x["state"] for x in d.revisions] == ["resolved"] and r.open_count() == 0
