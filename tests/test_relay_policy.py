"""The relay policy with an injected clock: on while odor_high is open, hold/cycle, minimum off time."""
from __future__ import annotations

import pytest

from edge.actuators import RelayPolicy


def run(policy: RelayPolicy, events: list[tuple[float, bool]]) -> list[tuple[float, bool, str]]:
    return [(t, *policy.step(t, odor)) for t, odor in events]


def test_on_while_open():
    p = RelayPolicy(hold_s=0, min_off_s=60)
    assert p.step(0, False) == (False, "idle")
    assert p.step(1, True) == (True, "odor_high")
    assert p.step(500, True) == (True, "odor_high")
    assert p.step(501, False) == (False, "idle")
    assert p.off_since == 501


def test_minimum_off_time_holds_it_off():
    p = RelayPolicy(hold_s=0, min_off_s=60)
    p.step(0, True)
    p.step(10, False)  # off at 10
    assert p.step(30, True) == (False, "min_off")
    assert p.next_change_at(30, True) == 70
    assert p.step(69.9, True) == (False, "min_off")
    assert p.step(70, True) == (True, "odor_high")
    assert p.next_change_at(70, True) is None


def test_first_switch_on_is_not_held_back():
    assert RelayPolicy(min_off_s=600).step(0, True) == (True, "odor_high")


def test_hold_runs_for_hold_s_even_if_the_incident_closes():
    p = RelayPolicy(hold_s=120, min_off_s=60)
    assert p.step(0, True) == (True, "hold")
    assert p.next_change_at(0, True) == 120
    assert p.step(5, False) == (True, "hold")  # the odor cleared; the run completes
    assert p.step(119, False) == (True, "hold")
    assert p.step(120, False) == (False, "idle")
    assert p.step(400, False) == (False, "idle")


def test_hold_cycles_while_the_incident_stays_open():
    p = RelayPolicy(hold_s=120, min_off_s=60)
    states = run(p, [(0, True), (119, True), (120, True), (150, True), (180, True), (299, True), (300, True),
                     (310, False), (600, False)])
    assert [(t, on) for t, on, _ in states] == [
        (0, True), (119, True), (120, False), (150, False), (180, True), (299, True), (300, False),
        (310, False), (600, False)]
    assert states[3][2] == "min_off"


def test_manual_is_never_switched_by_the_policy():
    p = RelayPolicy(on_while="manual")
    assert p.step(0, True) == (False, "manual")
    p.is_on = True
    assert p.step(1, False) == (True, "manual")
    assert p.next_change_at(1, True) is None


@pytest.mark.parametrize("min_off", [0.0, 30.0])
def test_flapping_odor_respects_min_off(min_off):
    p = RelayPolicy(hold_s=0, min_off_s=min_off)
    switches_on = []
    for t in range(0, 120):
        before = p.is_on
        on, _ = p.step(float(t), t % 2 == 0)  # odor flips every second
        if on and not before:
            switches_on.append(t)
    gaps = [b - a for a, b in zip(switches_on, switches_on[1:])]
    assert all(g >= min_off for g in gaps)
    assert len(switches_on) == (60 if min_off == 0 else 4)


def test_min_off_time_holds_across_a_restart(tmp_path):
    """A restart or config reload (the agent is rebuilt) must not switch the fan straight back on."""
    from edge.actuators import RelayController
    from edge.config import Config
    from hw.actuators import SimRelay

    a = Config.model_validate({"actuators": [{"id": "fan-1", "driver": "sim", "min_off_s": 60}]}).actuators[0]
    state = tmp_path / "fan-1.json"
    wall, mono = [1_000_000.0], [500.0]
    make = lambda: RelayController(a, SimRelay(), state, wall=lambda: wall[0], mono=lambda: mono[0])  # noqa: E731
    first = make()  # nothing recorded yet: no lockout
    assert first.update(mono[0], True) is True
    wall[0] += 10
    mono[0] += 10
    first.close()  # the agent stops with odor_high still open: the relay goes off now
    wall[0] += 5
    mono[0] = 7.0  # a new process: another monotonic clock
    second = make()
    assert second.update(mono[0], True) is False and second.reason == "min_off"
    assert second.update(mono[0] + 54.9, True) is False
    assert second.update(mono[0] + 55.0, True) is True  # 60 s after the switch-off, not after the restart
    second.close()
    wall[0] += 1000
    third = make()  # off long ago: no lockout
    assert third.update(0.0, True) is True


def test_a_relay_never_switched_is_free_after_a_reload(tmp_path):
    """Starting is not switching off: a reload (or a restart) seconds after the first start must
    not hold a relay that never ran, e.g. for a relay test from the console right after a save."""
    import json

    from edge.actuators import RelayController
    from edge.config import Config
    from hw.actuators import SimRelay

    a = Config.model_validate({"actuators": [{"id": "fan-1", "driver": "sim", "min_off_s": 60}]}).actuators[0]
    state = tmp_path / "fan-1.json"
    wall, mono = [1_000_000.0], [500.0]
    make = lambda: RelayController(a, SimRelay(), state, wall=lambda: wall[0], mono=lambda: mono[0])  # noqa: E731
    make().close()
    assert json.loads(state.read_text())["at"] is None  # recorded as never switched
    wall[0] += 5
    mono[0] += 5
    again = make()
    assert not again.policy.locked_off(mono[0])
    assert again.update(mono[0], True) is True
    again.update(mono[0] + 1, False)  # a real switch-off from here on counts
    wall[0] += 2
    mono[0] += 2
    assert make().policy.locked_off(mono[0])
