"""Scenario timelines: loading, validation, sensor keyframes and the expected incidents."""
from __future__ import annotations

import pytest

from hw.sim import ScenarioError, list_scenarios, load_scenario
from hw.sim.scenario import build_scenario, point_in_polygon


def test_bundled_scenarios_cover_the_cases():
    names = list_scenarios()
    assert len(names) >= 8
    for must in ("bag_dropped_outside", "bag_into_bin", "person_standing_still", "person_carrying_through",
                 "two_bags_one_place", "bag_removed_by_cleaner", "lighting_change_empty", "several_drops_over_time",
                 "night_dim_bag"):
        assert must in names
    for n in names:
        sc = load_scenario(n)
        assert sc.name == n and sc.duration_s > 0


@pytest.mark.parametrize("name, expected", [
    ("bag_dropped_outside", [(67.0, None, 1)]),
    ("bag_removed_by_cleaner", [(66.0, 112.0, 1)]),
    ("two_bags_one_place", [(66.0, None, 2)]),
    ("several_drops_over_time", [(67.0, 100.0, 1), (186.0, None, 1)]),
    ("night_dim_bag", [(66.0, 110.0, 1)]),
    ("box_in_front_of_bin", [(67.0, None, 1)]),
    ("bag_into_bin", []),
    ("person_standing_still", []),
    ("person_carrying_through", []),
    ("short_drop_picked_back_up", []),
    ("lighting_change_empty", []),
])
def test_expected_incidents(name, expected):
    got = [(i["open_s"], i["resolve_s"], i["count"]) for i in load_scenario(name).expected_incidents()]
    assert got == expected
    for inc in load_scenario(name).expected_incidents():
        assert inc["type"] == "bag_outside_bin"


def test_rules_change_the_expected_times():
    data = {"duration_s": 100, "rules": {"incident_after_s": 20, "clear_after_s": 5},
            "timeline": [{"t": 1, "action": "place", "bag": "b", "kind": "box", "at": [550, 420]},
                         {"t": 50, "action": "remove", "bag": "b"}]}
    assert [(i["open_s"], i["resolve_s"]) for i in build_scenario(data).expected_incidents()] == [(21.0, 55.0)]
    data["timeline"][1]["t"] = 15  # gone before incident_after_s: nothing to report
    assert build_scenario(data).expected_incidents() == []


def test_bags_far_apart_are_separate_incidents():
    data = {"duration_s": 100, "timeline": [
        {"t": 1, "action": "place", "kind": "black_bag", "at": [600, 420]},
        {"t": 2, "action": "place", "kind": "white_bag", "at": [60, 450]}]}
    assert len(build_scenario(data).expected_incidents()) == 2


def test_bag_in_a_bin_polygon_is_not_outside():
    data = {"duration_s": 100, "timeline": [{"t": 1, "action": "place", "kind": "black_bag", "at": [120, 300]}]}
    assert build_scenario(data).expected_incidents() == []


def test_sensor_value_interpolates_and_clamps():
    sc = load_scenario("bin_fills_and_emptied")
    assert sc.sensor_value("bin-1-level", 0) == 1100
    assert sc.sensor_value("bin-1-level", 60) == pytest.approx(650)
    assert sc.sensor_value("bin-1-level", 10_000) == 1150
    assert sc.sensor_value("bin-1-level", -5) == 1100
    assert sc.sensor_value("no-such-sensor", 10) is None
    assert load_scenario("odor_rises").sensor_value("odor-1", 70) == pytest.approx(14.0)


def test_actor_walks_and_leaves():
    sc = load_scenario("bag_dropped_outside")
    p1 = sc.actors["p1"]
    assert not p1.present(1.0) and p1.present(5.0)
    assert p1.position(7.5) == pytest.approx((520, 390))
    assert p1.walking(2.5)[0] and not p1.walking(7.5)[0]
    assert not p1.present(sc.duration_s - 1)


@pytest.mark.parametrize("event, message", [
    ({"t": 1, "action": "fly", "actor": "p1"}, "unknown action"),
    ({"t": 1, "action": "drop", "actor": "ghost"}, "not in the room"),
    ({"t": 1, "action": "enter", "actor": "p1", "carrying": "piano"}, "unknown bag kind"),
    ({"t": 1, "action": "remove", "bag": "nope"}, "unknown bag"),
    ({"action": "enter"}, "needs `t` and `action`"),
])
def test_bad_timelines_say_what_is_wrong(event, message):
    with pytest.raises(ScenarioError, match=message):
        build_scenario({"duration_s": 10, "timeline": [event]})


@pytest.mark.parametrize("data, message", [
    ({"timeline": [{"t": "soon", "action": "place", "at": [500, 400]}]}, r"^timeline\[0\]: unexpected value"),
    ({"timeline": [{"t": 1, "action": "light", "level": "dim"}]}, r"^timeline\[0\] \(t=1, light\): unexpected"),
    ({"timeline": [{"t": 1, "action": "enter", "actor": "p", "speed": 0}]}, "speed must be positive"),
    ({"rules": {"incident_after_s": "long"}}, "^rules: unexpected value"),
    ({"rules": [60]}, "^rules: unexpected value"),
    ({"bins": 3}, "^bins: unexpected value"),
    ({"bins": [{"box": [1, 2, 3, 4]}, 7]}, r"^bins\[1\]: unexpected value"),
    ({"bins": [{"box": [1, 2, 3, "x"]}]}, r"^bins\[0\]: unexpected value"),
    ({"lighting": [[0]]}, "^lighting: unexpected value"),
])
def test_wrong_values_of_any_type_name_the_part(data, message):
    with pytest.raises(ScenarioError, match=message):
        build_scenario({"duration_s": 10, **data})


def test_into_unknown_bin_and_bad_files(tmp_path):
    with pytest.raises(ScenarioError, match="unknown bin"):
        build_scenario({"timeline": [{"t": 0, "action": "enter", "actor": "a", "carrying": "box"},
                                     {"t": 1, "action": "into_bin", "actor": "a", "bin": "bin-9"}]})
    with pytest.raises(ScenarioError, match="no bundled scenario"):
        load_scenario("does_not_exist")
    bad = tmp_path / "bad.yaml"
    bad.write_text("duration_s: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"not valid YAML: .* \(line 2\)$"):
        load_scenario(bad)
    bad.write_text("duration_s: 10\nwhatever: 1\n")
    with pytest.raises(ScenarioError, match="unknown top-level keys"):
        load_scenario(bad)


def test_point_in_polygon():
    sq = [(0, 0), (10, 0), (10, 10), (0, 10)]
    assert point_in_polygon((5, 5), sq) and not point_in_polygon((15, 5), sq)


def test_things_the_detector_does_not_know_and_a_bin_moved():
    assert [(i["open_s"], i["resolve_s"]) for i in load_scenario("unknown_carton_left").expected_incidents()] == [(67.0, None)]
    assert [(i["open_s"], i["resolve_s"]) for i in load_scenario("bulky_chair_left").expected_incidents()] == [(66.0, 98.0)]
    sc = load_scenario("bin_pulled_out_and_back")
    assert sc.expected_incidents() == []
    assert sc.bin_offset("bin-2", 0.0) == (0.0, 0.0)
    assert sc.bin_offset("bin-2", 7.5) == pytest.approx((15.0, 50.0))  # halfway out (6 s … 9 s)
    assert sc.bin_offset("bin-2", 50.0) == (30.0, 100.0)
    assert sc.bin_offset("bin-2", 120.0) == (0.0, 0.0)  # put back
    assert sc.bin_offset("bin-1", 50.0) == (0.0, 0.0)
    with pytest.raises(ScenarioError, match="unknown bin 'bin-9'"):
        build_scenario({"duration_s": 10, "timeline": [{"t": 1, "action": "move_bin", "bin": "bin-9", "by": [0, 50]}]})


def test_unknown_things_have_no_truth_box_and_a_moved_bin_moves_its_box():
    from hw.sim.room import SimRoom

    room = SimRoom("unknown_carton_left", seed=1)
    _, truth = room.render(40.0)
    assert {b.cls for b in truth} == {"bin"}  # the carton is drawn but no class names it
    frame_with, _ = room.render(40.0)
    frame_before, _ = room.render(1.0)
    assert abs(frame_with[380:440, 480:560].astype(int) - frame_before[380:440, 480:560].astype(int)).mean() > 10
    room = SimRoom("bin_pulled_out_and_back", seed=1)
    lowest = lambda t: max(b.xyxy[3] for b in room.render(t)[1] if b.cls == "bin")  # noqa: E731
    assert lowest(1.0) == pytest.approx(330.0, abs=2)
    assert lowest(50.0) == pytest.approx(430.0, abs=2)  # bin-2 stands on the floor, 100 px out
    assert lowest(125.0) == pytest.approx(330.0, abs=2)  # and back in its place
