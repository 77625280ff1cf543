"""Bag dwell rules: reminder, incident open / update / resolved, places and counts. No sleeping:
time is an argument."""
from __future__ import annotations

import pytest

from edge.config.vision import BagRule
from edge.vision.bag_rules import (INCIDENT_OPEN, INCIDENT_RESOLVED, INCIDENT_UPDATE, REMINDER_DUE, BagObs,
                                   BagRules)


def rules(**kw) -> BagRules:
    return BagRules.from_config(BagRule(**{"remind_after_s": 3, "incident_after_s": 20, "clear_after_s": 10, **kw}))


def run(r: BagRules, timeline, until: float, step: float = 0.1):
    """timeline(t) -> {zone: [BagObs]}; returns [(kind, t, count, place)]."""
    out = []
    n = int(round(until / step))
    for i in range(n + 1):
        t = round(i * step, 3)
        for ev in r.update(t, timeline(t)):
            out.append((ev.kind, round(ev.t, 2), ev.count, ev.place_id))
    return out


def bag(track, since, x=500.0, y=400.0):
    return BagObs(track, since, (x, y))


def test_bag_left_then_removed():
    # dropped at t=5, removed at t=40
    events = run(rules(), lambda t: {"floor": [bag(1, 5.0)]} if 5.0 <= t < 40.0 else {}, 60)
    assert events == [(REMINDER_DUE, 8.0, 1, 1), (INCIDENT_OPEN, 25.0, 1, 1), (INCIDENT_RESOLVED, 49.9, 0, 1)]  # last seen at 39.9


def test_bag_taken_before_the_incident_time_raises_only_the_reminder():
    events = run(rules(), lambda t: {"floor": [bag(1, 5.0)]} if 5.0 <= t < 15.0 else {}, 40)
    assert events == [(REMINDER_DUE, 8.0, 1, 1)]


def test_nothing_present_nothing_raised():
    assert run(rules(), lambda t: {}, 100) == []


def test_flicker_shorter_than_clear_time_neither_resolves_nor_restarts():
    def tl(t):
        if 5.0 <= t < 60.0 and not (30.0 <= t < 35.0):  # unseen for 5 s while an incident is open
            return {"floor": [bag(1, 5.0)]}
        return {}
    events = run(rules(), tl, 80)
    assert [e[0] for e in events] == [REMINDER_DUE, INCIDENT_OPEN, INCIDENT_RESOLVED]
    assert events[-1][1] == 69.9  # 10 s after the last sighting


def test_several_bags_in_one_place_are_one_incident_with_a_count():
    def tl(t):
        bags = []
        if t >= 5.0:
            bags.append(bag(1, 5.0, 500, 400))
        if t >= 30.0:
            bags.append(bag(2, 30.0, 560, 420))  # 63 px away: same place
        return {"floor": bags} if bags else {}
    r = rules(update_settle_s=2)
    events = run(r, tl, 40)
    assert events == [(REMINDER_DUE, 8.0, 1, 1), (INCIDENT_OPEN, 25.0, 1, 1), (INCIDENT_UPDATE, 32.0, 2, 1)]
    assert r.open_incidents() == {("floor", 1): 2}


def test_count_change_must_settle_before_update():
    def tl(t):
        bags = [bag(1, 0.0)]
        if 30.0 <= t < 31.0:  # a second bag seen for one second only
            bags.append(bag(2, 30.0, 520, 400))
        return {"floor": bags}
    events = run(rules(update_settle_s=3), tl, 40)
    assert [e[0] for e in events] == [REMINDER_DUE, INCIDENT_OPEN]


def test_bags_far_apart_are_separate_incidents():
    def tl(t):
        bags = [bag(1, 0.0, 80, 450)]
        if t >= 10.0:
            bags.append(bag(2, 10.0, 600, 450))  # 520 px away
        return {"floor": bags}
    events = run(rules(), tl, 35)
    opens = [e for e in events if e[0] == INCIDENT_OPEN]
    assert opens == [(INCIDENT_OPEN, 20.0, 1, 1), (INCIDENT_OPEN, 30.0, 1, 2)]


def test_dwell_counts_from_when_the_bag_lay_still():
    # the bag is first reported at t=12 but has lain still since t=10 (confirmation delay)
    events = run(rules(), lambda t: {"floor": [bag(1, 10.0)]} if t >= 12.0 else {}, 40)
    assert (INCIDENT_OPEN, 30.0, 1, 1) in events


def test_a_new_episode_after_a_clean_gap():
    def tl(t):
        if 0 <= t < 25 or 50 <= t < 80:
            return {"floor": [bag(1 if t < 30 else 2, 0.0 if t < 30 else 50.0)]}
        return {}
    events = run(rules(), tl, 100)
    assert [e[0] for e in events] == [REMINDER_DUE, INCIDENT_OPEN, INCIDENT_RESOLVED,
                                      REMINDER_DUE, INCIDENT_OPEN, INCIDENT_RESOLVED]
    assert events[3][3] != events[0][3]  # a fresh place id


def test_rule_order_is_checked():
    with pytest.raises(ValueError):
        BagRules(30, 20, 10)
