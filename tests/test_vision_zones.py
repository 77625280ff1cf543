"""Zone geometry: the bottom-centre anchor, polygons, and what counts as outside the bins."""
from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from edge.config.vision import BinZone, Zones
from edge.vision.zones import FLOOR, ZoneMap, anchor, iou, is_held, point_in_polygon

ZONES = ZoneMap.from_config(Zones(
    floor=[(0, 260), (640, 260), (640, 480), (0, 480)],
    bins=[BinZone(id="bin-1", polygon=[(60, 170), (180, 170), (180, 330), (60, 330)])],
))


def test_anchor_is_bottom_centre():
    assert anchor((10, 20, 30, 60)) == (20.0, 60.0)


def test_bag_on_floor_is_outside_bins():
    assert ZONES.locate((500, 350, 560, 410)) == FLOOR
    assert ZONES.outside_bins((500, 350, 560, 410))


def test_bag_in_front_of_bin_counts_as_in_the_bin():
    # bottom-centre (120, 320) lies in the bin polygon, even though most of the box is on the floor
    assert ZONES.locate((90, 260, 150, 320)) == "bin:bin-1"
    assert not ZONES.outside_bins((90, 260, 150, 320))


def test_box_above_the_floor_is_nowhere():
    assert ZONES.locate((500, 100, 560, 200)) is None  # e.g. on a shelf, or a bag held high


def test_concave_polygon_and_edges():
    l_shape = [(0, 0), (10, 0), (10, 4), (4, 4), (4, 10), (0, 10)]
    assert point_in_polygon((2, 8), l_shape)
    assert not point_in_polygon((8, 8), l_shape)  # in the notch
    assert point_in_polygon((10, 2), l_shape)  # on an edge counts as inside
    assert point_in_polygon((0, 0), l_shape)  # a corner too


@given(st.integers(-100, 1400).map(lambda v: v / 2), st.integers(-100, 1100).map(lambda v: v / 2))
def test_rectangle_matches_bounds(x, y):
    rect = [(0, 260), (640, 260), (640, 480), (0, 480)]
    assert point_in_polygon((x, y), rect) == (0 <= x <= 640 and 260 <= y <= 480)


def test_iou():
    assert iou((0, 0, 10, 10), (0, 0, 10, 10)) == 1.0
    assert iou((0, 0, 10, 10), (20, 20, 30, 30)) == 0.0
    assert abs(iou((0, 0, 10, 10), (5, 0, 15, 10)) - 1 / 3) < 1e-9


def test_carried_bag_is_held_but_bag_at_the_feet_is_not():
    person = (470, 100, 580, 390)
    carried = (537, 240, 590, 296)  # hangs at hand height
    at_feet = (540, 340, 600, 395)  # beside the person, on the floor
    assert is_held(carried, [person])
    assert not is_held(at_feet, [person])
    assert not is_held(carried, [])
