"""The pure parts of the daily statistics: the accounting (noise, lid spikes, gaps, emptyings,
restarts, day boundaries), collection supervision and the daily document's counts."""
from __future__ import annotations

import datetime as dt
import random
from types import SimpleNamespace
from zoneinfo import ZoneInfo

from edge.stats.accounting import Accounting
from edge.stats.daily import due_dates, incident_counts
from edge.stats.overdue import CollectionWatch

TZ = "Asia/Shanghai"
MIDNIGHT = dt.datetime(2026, 11, 28, tzinfo=ZoneInfo(TZ)).timestamp()


def acc(state=None) -> Accounting:
    return Accounting({"bin-1": "wet"}, TZ, settle_s=120, deadband_pct=2, drop_pct=40, state=state)


def feed(a: Accounting, level_at, t0: float, t1: float, step: float = 5.0, noise: float = 0.0, seed: int = 1):
    rng = random.Random(seed)
    t, out = t0, []
    while t < t1:
        out += a.fill("bin-1", level_at(t) + rng.gauss(0, noise), MIDNIGHT + t)
        t += step
    return out


def test_noise_on_a_steady_bin_adds_nothing():
    a = acc()
    feed(a, lambda t: 40.0, 0, 6 * 3600, noise=1.5)
    assert a.day("2026-11-28").bins["bin-1"].added_pct < 0.5


def test_climbs_count_and_a_lid_spike_does_not():
    a = acc()

    def level(t):
        if 3600 <= t < 3620:
            return 100.0  # the lid swings through the beam for 20 s
        return 20.0 + min(30.0, max(0.0, (t - 7200) / 60.0))  # +30 points over half an hour from 02:00

    feed(a, level, 0, 4 * 3600, noise=0.8)
    assert abs(a.day("2026-11-28").bins["bin-1"].added_pct - 30.0) < 1.5


def test_an_emptying_is_counted_only_when_the_level_confirms_it():
    a = acc()
    feed(a, lambda t: 60.0, 0, 600)
    a.emptied("bin-1", MIDNIGHT + 600)  # a lid spike's "fall": the level did not change
    assert feed(a, lambda t: 60.0, 600, 1200) == []
    a.emptied("bin-1", MIDNIGHT + 1200)  # a real one
    assert feed(a, lambda t: 3.0, 1200, 1800) == ["emptied"]
    feed(a, lambda t: 3.0 + min(10.0, (t - 1800) / 60.0), 1800, 3000)  # refilled by 10 points
    bd = a.day("2026-11-28").bins["bin-1"]
    assert bd.emptied == 1 and bd.emptied_unseen == 0
    assert abs(bd.added_pct - 10.0) < 1.0


def test_a_gap_keeps_what_went_in_meanwhile_and_finds_an_unseen_emptying():
    a = acc()
    feed(a, lambda t: 30.0, 0, 600)
    feed(a, lambda t: 45.0, 1200, 1800)  # 10 minutes without readings; 15 points went in
    assert abs(a.day("2026-11-28").bins["bin-1"].added_pct - 15.0) < 0.5
    assert feed(a, lambda t: 2.0, 3000, 3600) == ["emptied_unseen"]  # emptied while nobody looked
    assert a.day("2026-11-28").bins["bin-1"].emptied_unseen == 1


def test_the_state_survives_a_restart():
    a = acc()
    feed(a, lambda t: 20.0 + min(20.0, t / 60.0), 0, 1800)
    before = a.day("2026-11-28").bins["bin-1"].added_pct
    b = acc(state=a.state())  # the next agent
    feed(b, lambda t: 40.0 + min(10.0, (t - 1860) / 60.0), 1860, 3600)
    after = b.day("2026-11-28").bins["bin-1"]
    assert abs(after.added_pct - before - 10.0) < 1.0
    assert after.data_minutes == a.day("2026-11-28").bins["bin-1"].data_minutes + 29


def test_days_change_at_local_midnight():
    a = acc()
    feed(a, lambda t: 10.0 + min(30.0, max(0.0, (t - 86100) / 20.0)), 85800, 87600)  # climbs across 00:00 local
    d1, d2 = a.day("2026-11-28").bins["bin-1"], a.day("2026-11-29").bins["bin-1"]
    assert d1.added_pct > 0 and d2.added_pct > 0
    assert abs(d1.added_pct + d2.added_pct - 30.0) < 1.5
    assert a.local(MIDNIGHT + 86400) == ("2026-11-29", 0)


def _rule(**kw):
    times = kw.pop("times", {"bin-1": [dt.time(9, 30)]})
    return SimpleNamespace(window_s=3600, grace_s=1800, level_pct=50, times=lambda b: times.get(b, []), **kw)


SUBJECT = {"bin-1": {"zone": None, "bin_id": "bin-1", "sensor_id": "bin-1-level"}}
DEADLINE = MIDNIGHT + 11 * 3600  # 09:30 + 1 h window + 30 min grace


def test_overdue_opens_at_the_deadline_and_resolves_on_the_emptying():
    w = CollectionWatch(_rule(), TZ, SUBJECT)
    assert w.tick(MIDNIGHT + 3600, {"bin-1": 70.0}) == []
    assert w.tick(DEADLINE - 1, {"bin-1": 70.0}) == []
    (ev,) = w.tick(DEADLINE, {"bin-1": 70.0})
    assert (ev.action, ev.type, ev.subject["bin_id"], ev.measurements["fill_pct"]) == ("open", "collection_overdue", "bin-1", 70.0)
    assert w.tick(DEADLINE + 60, {"bin-1": 75.0}) == []  # once
    (res,) = w.emptied("bin-1", DEADLINE + 600)
    assert res.action == "resolve" and res.measurements["late_s"] == 600.0


def test_overdue_never_below_the_level_nor_when_collected_in_time():
    w = CollectionWatch(_rule(), TZ, SUBJECT)
    w.tick(MIDNIGHT, {"bin-1": 10.0})
    assert w.tick(DEADLINE + 5, {"bin-1": 49.9}) == []
    w2 = CollectionWatch(_rule(), TZ, SUBJECT)
    w2.tick(MIDNIGHT, {"bin-1": 80.0})
    w2.emptied("bin-1", MIDNIGHT + 10 * 3600)  # within the window
    assert w2.tick(DEADLINE + 5, {"bin-1": 80.0}) == []


def test_overdue_state_survives_a_restart_and_waits_for_a_level():
    w = CollectionWatch(_rule(), TZ, SUBJECT)
    w.tick(MIDNIGHT, {"bin-1": 80.0})
    w2 = CollectionWatch(_rule(), TZ, SUBJECT, state=w.state())
    assert w2.tick(DEADLINE + 5, {"bin-1": None}) == []  # no level yet: the first one decides
    assert [e.action for e in w2.tick(DEADLINE + 65, {"bin-1": 80.0})] == ["open"]
    w3 = CollectionWatch(_rule(), TZ, SUBJECT, open_bins=["bin-1"], state=w2.state())
    assert [e.action for e in w3.emptied("bin-1", DEADLINE + 900)] == ["resolve"]


def _iso(t: float) -> str:
    return dt.datetime.fromtimestamp(t, ZoneInfo(TZ)).isoformat(timespec="milliseconds")


def test_incident_counts_per_type_with_the_median_open_time():
    docs = [{"type": "bag_outside_bin", "state": "resolved", "opened_at": _iso(MIDNIGHT + 100 * i),
             "resolved_at": _iso(MIDNIGHT + 100 * i + s)} for i, s in enumerate((60, 300, 90))]
    docs.append({"type": "bag_outside_bin", "state": "open", "opened_at": _iso(MIDNIGHT + 5000)})
    docs.append({"type": "bin_full", "state": "resolved", "opened_at": _iso(MIDNIGHT - 600),  # opened the day before
                 "resolved_at": _iso(MIDNIGHT + 600)})
    counts = incident_counts(docs, "2026-11-28", TZ)
    assert counts["bag_outside_bin"] == {"opened": 4, "resolved": 3, "median_open_s": 90.0}
    assert counts["bin_full"] == {"opened": 0, "resolved": 1, "median_open_s": 1200.0}


def test_days_are_due_after_send_at_and_only_once():
    send_at = dt.time(0, 30)
    now = MIDNIGHT + 2 * 86400 + 1800 + 1  # 2026-11-30 00:30:01
    assert due_dates(now, TZ, send_at, "2026-11-28", [], 14) == ["2026-11-28", "2026-11-29"]
    assert due_dates(now - 2, TZ, send_at, "2026-11-28", [], 14) == ["2026-11-28"]
    assert due_dates(now, TZ, send_at, "2026-11-28", ["2026-11-28"], 14) == ["2026-11-29"]
    assert due_dates(now, TZ, send_at, None, [], 14) == []
