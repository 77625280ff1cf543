"""Tracker: identities across detector runs, persistence, and the still timer."""
from __future__ import annotations

from dataclasses import dataclass

from edge.vision.tracker import Tracker


@dataclass
class D:
    cls: str
    xyxy: tuple
    conf: float = 0.9


def test_same_bag_keeps_its_id_and_confirms():
    tr = Tracker(min_hits=2)
    tr.update([D("garbage_bag", (100, 300, 150, 350))], 0.0)
    assert tr.confirmed() == []
    tr.update([D("garbage_bag", (102, 301, 152, 351))], 0.1)
    (t,) = tr.confirmed("garbage_bag")
    assert t.id == 1 and t.hits == 2 and t.seen_now


def test_stationary_bag_survives_sparse_rechecks():
    # with a still scene the detector runs only every few seconds: the bag must never be forgotten
    tr = Tracker(forget_after_s=3.0, max_misses=3)
    for k in range(20):
        tr.update([D("garbage_bag", (100, 300, 150, 350))], k * 5.0)
    (t,) = tr.tracks
    assert t.id == 1 and t.first_seen == 0.0 and t.still_since == 0.0


def test_missed_detections_are_bridged_then_forgotten():
    tr = Tracker(forget_after_s=1.0, max_misses=3)
    tr.update([D("garbage_bag", (100, 300, 150, 350))], 0.0)
    tr.update([], 0.1)
    tr.update([], 0.2)
    (t,) = tr.tracks
    assert not t.seen_now and t.misses == 2
    tr.update([D("garbage_bag", (100, 300, 150, 350))], 0.3)
    assert [x.id for x in tr.tracks] == [1]  # same identity after the gap
    for k in range(4, 20):
        tr.update([], k * 0.1)
    assert tr.tracks == []


def test_time_alone_does_not_forget_without_enough_detector_runs():
    tr = Tracker(forget_after_s=1.0, max_misses=3)
    tr.update([D("garbage_bag", (100, 300, 150, 350))], 0.0)
    tr.update([], 100.0)  # one missed run, long after: kept (could be one flicker)
    assert len(tr.tracks) == 1


def test_moving_object_restarts_still_timer():
    tr = Tracker()
    x = 100.0
    for k in range(10):
        tr.update([D("garbage_bag", (x, 250, x + 50, 300))], k * 0.1)
        x += 12  # a carried bag, walking pace
    (t,) = tr.tracks
    assert t.still_since >= 0.8
    for k in range(10, 30):
        tr.update([D("garbage_bag", (x, 270, x + 50, 320))], k * 0.1)  # dropped: it lies still from t=1.0
    (t,) = tr.tracks
    assert t.still_since == 1.0


def test_classes_never_mix_and_two_bags_keep_ids():
    tr = Tracker()
    tr.update([D("garbage_bag", (100, 300, 150, 350)), D("person", (100, 100, 160, 350)),
               D("garbage_bag", (400, 300, 450, 350))], 0.0)
    tr.update([D("garbage_bag", (401, 300, 451, 350)), D("garbage_bag", (99, 300, 149, 350)),
               D("person", (105, 100, 165, 350))], 0.1)
    by_id = {t.id: t for t in tr.tracks}
    assert by_id[1].cls == "garbage_bag" and by_id[1].xyxy[0] == 99
    assert by_id[2].cls == "person"
    assert by_id[3].xyxy[0] == 401
