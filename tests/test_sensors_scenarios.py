"""The shipped default config's sensors over the simulated room's sensor scenarios, on a simulated
clock (no sleeping): the sim driver, filters, fill % and rules together give the expected incidents."""
from __future__ import annotations

import threading

from ruamel.yaml import YAML

import hw.sim.scenario  # noqa: F401  (our own simulator: a failure to import is a failure, never a skip)
from edge.config import Config
from edge.paths import bundled_default_config
from edge.sensing.manager import make_driver
from edge.sensing.pipeline import SensorPipeline


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def run_scenario(name: str, seconds: float):
    # the shipped sensors and rules (other sections are not under test here)
    data = YAML(typ="safe").load(bundled_default_config().read_text(encoding="utf-8"))
    cfg = Config.model_validate({"sensors": data["sensors"], "rules": data["rules"]})
    assert all(s.poll_s == 1.0 for s in cfg.sensors)
    clock = FakeClock()
    stop = threading.Event()
    rigs = []
    for s in cfg.sensors:
        s = s.model_copy(update={"scenario": name})
        rigs.append((make_driver(s, stop, clock), SensorPipeline(s, cfg.rules, clock.now)))
    events, readings = [], []
    while clock.now <= seconds:
        for driver, pipe in rigs:
            for sample in driver.poll(stop):  # due every poll_s of simulated time
                r, e = pipe.feed(sample, clock.now)
                readings += r
                events += e
            r, e = pipe.tick(clock.now, driver.status())
            events += e
        clock.now += 1.0  # = the sensors' poll_s: every poll is due, so the driver never waits
    return events, readings


def test_bin_fills_and_is_emptied():
    events, readings = run_scenario("bin_fills_and_emptied", 260)
    fill = [(e.action, e.type, round(e.t)) for e in events if e.subject["sensor_id"] == "bin-1-level"]
    assert [f[:2] for f in fill] == [("open", "bin_full"), ("event", "bin_emptied"), ("resolve", "bin_full")]
    (_, _, t_open), (_, _, t_emptied), (_, _, t_resolve) = fill
    assert 125 <= t_open <= 140  # 90 % reached near 101-105 s, held 30 s
    assert 205 <= t_emptied <= 225  # collected 200-215 s, reported once settled
    assert 230 <= t_resolve <= 250
    emptied = next(e for e in events if e.type == "bin_emptied")
    assert emptied.measurements["fill_pct_before"] == 100.0
    assert emptied.measurements["fill_pct_after"] < 10
    assert emptied.subject == {"bin_id": "bin-1", "sensor_id": "bin-1-level"}
    assert not [e for e in events if e.type in ("sensor_fault", "odor_high")]
    assert max(r.value for r in readings if r.sensor_id == "bin-1-level") == 100.0


def test_odor_rises_and_falls():
    events, _ = run_scenario("odor_rises", 240)
    odor = [(e.action, e.type, round(e.t), e.measurements) for e in events]
    assert [o[:2] for o in odor] == [("open", "odor_high"), ("resolve", "odor_high")]
    assert 75 <= odor[0][2] <= 90 and odor[0][3]["nh3_ppm"] >= 10
    assert 185 <= odor[1][2] <= 205 and odor[1][3]["nh3_ppm"] <= 5
