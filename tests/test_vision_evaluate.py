"""The event-accuracy scoring of models/evaluate_events.py: exactly one open per expected
incident, within the tolerance, resolved on time, nothing extra."""
from __future__ import annotations

import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "models"))

from evaluate_events import Result, compare  # noqa: E402

from edge.vision.bag_rules import INCIDENT_OPEN, INCIDENT_RESOLVED, BagEvent  # noqa: E402

EXP = [{"type": "bag_outside_bin", "open_s": 25.0, "resolve_s": 47.0, "count": 1, "place": [545.0, 410.0]}]


def ev(kind, t, place=1, xy=(540.0, 412.0)):
    return BagEvent(kind, t, "floor", 1, 0.0, place_id=place, xy=xy)


def score(expected, events):
    r = Result("s", 1, expected, events)
    compare(r, 70.0, 160.0)
    return r


def test_on_time_passes():
    assert score(EXP, [ev(INCIDENT_OPEN, 25.2), ev(INCIDENT_RESOLVED, 47.5)]).ok


def test_late_open_fails():
    assert not score(EXP, [ev(INCIDENT_OPEN, 28.5), ev(INCIDENT_RESOLVED, 47.5)]).ok


def test_missing_resolve_fails():
    assert not score(EXP, [ev(INCIDENT_OPEN, 25.2)]).ok


def test_a_second_open_is_a_false_incident():
    r = score(EXP, [ev(INCIDENT_OPEN, 25.2), ev(INCIDENT_RESOLVED, 47.5), ev(INCIDENT_OPEN, 60.0, place=2)])
    assert not r.ok and r.false_opens == 1


def test_no_expected_incident_and_none_raised_passes():
    assert score([], []).ok
    assert not score([], [ev(INCIDENT_OPEN, 30.0)]).ok


def test_stays_open_when_truth_says_so():
    exp = [dict(EXP[0], resolve_s=None)]
    assert score(exp, [ev(INCIDENT_OPEN, 25.0)]).ok
    assert not score(exp, [ev(INCIDENT_OPEN, 25.0), ev(INCIDENT_RESOLVED, 40.0)]).ok
