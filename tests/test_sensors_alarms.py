"""Fill %, bin_full / odor_high hysteresis, bin_emptied, warm-up and sensor_fault. Pure: clock is an argument."""
from __future__ import annotations

import pytest

from edge.config.schema import Rules
from edge.config.sensors import Sensor
from edge.sensing.alarms import Reading, SensorAlarms, fill_pct
from edge.sensing.pipeline import SensorPipeline
from hw.sensors.protocols import Sample

RULES = Rules.model_validate({
    "bin_full": {"open_pct": 90, "clear_pct": 70, "min_duration_s": 30},
    "bin_emptied": {"drop_pct": 40, "within_s": 300},
    "odor_high": {"thresholds": {"nh3": {"open_ppm": 10, "clear_ppm": 5}}, "min_duration_s": 20},
})


def fill_sensor(**kw):
    return Sensor(**{"id": "bin-1-level", "kind": "fill", "driver": "sim", "bin": "bin-1", "empty_mm": 1200,
                     "full_mm": 200, "timeout_s": 10, **kw})


def odor_sensor(**kw):
    return Sensor(**{"id": "odor-1", "kind": "odor", "driver": "sim", "gas": "nh3", "timeout_s": 10, **kw})


def fill(alarms, pct, t):
    return alarms.update(Reading("bin-1-level", "fill", "fill_pct", None, pct, "%", t), t)


def odor(alarms, ppm, t, q="nh3_ppm"):
    return alarms.update(Reading("odor-1", "odor", q, None, ppm, "ppm", t), t)


def test_fill_pct_from_empty_and_full_distance():
    assert fill_pct(1200, 1200, 200) == 0.0
    assert fill_pct(200, 1200, 200) == 100.0
    assert fill_pct(700, 1200, 200) == 50.0
    assert fill_pct(1500, 1200, 200) == 0.0  # farther than the bottom (a tilted echo)
    assert fill_pct(100, 1200, 200) == 100.0


def test_bin_full_needs_min_duration_and_hysteresis():
    a = SensorAlarms(fill_sensor(timeout_s=60), RULES, start=0.0)
    assert fill(a, 95, 1) == []
    assert fill(a, 80, 10) == []  # dipped below the open mark: the clock restarts
    assert fill(a, 92, 20) == []
    assert fill(a, 93, 49) == []
    [ev] = fill(a, 94, 50)
    assert ev.action == "open" and ev.type == "bin_full" and ev.measurements == {"fill_pct": 94}
    assert ev.subject == {"bin_id": "bin-1", "sensor_id": "bin-1-level"} and ev.t == 50
    assert a.state == "full"
    # between the marks nothing happens however long it stays
    for t in range(51, 200, 5):
        assert fill(a, 80, t) == []
    assert fill(a, 69, 200) == []
    assert a.tick(229, "ok") == []
    [ev] = a.tick(230, "ok")  # held below clear_pct for min_duration_s, no new reading needed
    assert (ev.action, ev.type, ev.measurements) == ("resolve", "bin_full", {"fill_pct": 69})
    assert a.state == "ok"


def test_noise_around_open_mark_does_not_flap():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    events = []
    for i in range(600):
        events += fill(a, 90 + (1 if i % 2 else -1), i)  # 89, 91, 89, ...
    assert events == []


def test_bin_emptied_reports_before_and_after_once_settled():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    for t in range(0, 100, 5):
        fill(a, 85, t)
    assert fill(a, 60, 100) == []  # a 25-point drop is not an emptying
    assert fill(a, 20, 105) == []  # 65 points down: pending while still falling
    assert fill(a, 5, 110) == []
    [ev] = fill(a, 5.5, 115)  # settled
    assert (ev.action, ev.type) == ("event", "bin_emptied")
    assert ev.measurements == {"fill_pct_before": 85, "fill_pct_after": 5}
    for t in range(120, 400, 5):  # reported once
        assert fill(a, 5, t) == []


def test_slow_decline_is_not_emptying():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    events = []
    for i in range(200):  # 80 % -> 0 % over 1000 s: never 40 points within 300 s... 24 points per 300 s
        events += fill(a, 80 - i * 0.4, i * 5)
    assert [e for e in events if e.type == "bin_emptied"] == []


@pytest.mark.parametrize("hold_s, emptyings", [(60, 0), (0, 1)])
def test_a_lid_swinging_through_the_beam_is_no_emptying(hold_s, emptyings):
    rules = Rules.model_validate({**RULES.model_dump(), "bin_emptied": {"drop_pct": 40, "within_s": 300, "hold_s": hold_s}})
    a = SensorAlarms(fill_sensor(), rules, start=0.0)
    events = []
    for t in range(0, 700, 5):  # half full; the lid reads as nearly full for 20 s at 300 s
        events += fill(a, 98 if 300 <= t < 320 else 50, t)
    assert len([e for e in events if e.type == "bin_emptied"]) == emptyings


def test_full_bin_emptied_resolves_after_min_duration():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    opened = [e.action for t in range(0, 70, 5) for e in fill(a, 95, t)]
    assert opened == ["open"]
    ev = fill(a, 3, 70) + fill(a, 3, 75)
    assert [(e.action, e.type) for e in ev] == [("event", "bin_emptied")]
    ev = fill(a, 3, 100)
    assert [(e.action, e.type) for e in ev] == [("resolve", "bin_full")]


def test_odor_high_hysteresis_and_duration():
    a = SensorAlarms(odor_sensor(), RULES, start=0.0)
    assert odor(a, 12, 0) == []
    [ev] = odor(a, 11, 20)
    assert (ev.action, ev.type, ev.measurements) == ("open", "odor_high", {"nh3_ppm": 11})
    assert ev.subject == {"bin_id": None, "sensor_id": "odor-1"}
    assert odor(a, 6, 30) == [] and odor(a, 4, 40) == [] and odor(a, 4.5, 59) == []
    [ev] = odor(a, 4.9, 60)
    assert ev.action == "resolve"


def test_odor_warmup_blocks_alarms():
    a = SensorAlarms(odor_sensor(warmup_s=300), RULES, start=1000.0)
    events = []
    for t in range(1000, 1300, 5):
        events += odor(a, 50, t)
        assert a.state_at(t) == "warmup"
    assert events == []
    assert odor(a, 50, 1300) == []  # warm now: the 20 s hold starts
    [ev] = odor(a, 50, 1320)
    assert ev.action == "open"


@pytest.mark.parametrize("kw", [{"driver": "gpio-digital", "pin": 17}, {"driver": "mcp3008-mq", "adc_channel": 0}])
def test_mq_sensors_warm_up_by_default(kw):
    # a cold MQ heater reads as gas: without a warmup_s in the config nothing may alarm at boot
    sensor = odor_sensor(**kw)
    assert sensor.warmup_s > 0 and odor_sensor().warmup_s == 0
    a = SensorAlarms(sensor, RULES, start=0.0)
    q = "nh3_alarm" if kw["driver"] == "gpio-digital" else "nh3_ppm"
    assert [e for t in range(0, int(sensor.warmup_s), 5) for e in odor(a, 50.0, t, q)] == []
    assert a.state_at(0) == "warmup"
    t = sensor.warmup_s
    assert odor(a, 50.0, t, q) == [] and odor(a, 50.0, t + 20, q)[0].action == "open"


def test_digital_mq_output_opens_and_resolves():
    a = SensorAlarms(odor_sensor(driver="gpio-digital", pin=17, warmup_s=0), RULES, start=0.0)
    assert odor(a, 1.0, 0, "nh3_alarm") == []
    [ev] = odor(a, 1.0, 20, "nh3_alarm")
    assert ev.measurements == {"nh3_alarm": 1.0}
    assert odor(a, 0.0, 21, "nh3_alarm") == []
    assert odor(a, 0.0, 41, "nh3_alarm")[0].action == "resolve"


def test_gas_without_threshold_never_alarms():
    a = SensorAlarms(odor_sensor(gas="co"), RULES, start=0.0)
    assert [e for t in range(0, 100) for e in odor(a, 999, t, "co_ppm")] == []


def test_sensor_fault_opens_at_timeout_and_resolves():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    assert a.tick(9.9) == []
    [ev] = a.tick(10.0, "cannot open /dev/ttyUSB0")
    assert (ev.action, ev.type) == ("open", "sensor_fault")
    assert "no valid reading for 10 s" in ev.measurements["reason"] and "ttyUSB0" in ev.measurements["reason"]
    assert a.tick(50.0) == [] and a.state == "fault"
    [ev] = fill(a, 40, 51.0)
    assert (ev.action, ev.type) == ("resolve", "sensor_fault")
    assert a.tick(60.9) == []
    assert a.tick(61.0)[0].action == "open"


def test_fault_interrupts_a_pending_level():
    a = SensorAlarms(fill_sensor(), RULES, start=0.0)
    fill(a, 95, 0)
    a.tick(10)  # fault: the level no longer "holds"
    assert fill(a, 95, 31) == [("resolve", "sensor_fault", {"bin_id": "bin-1", "sensor_id": "bin-1-level"},
                                 {"reason": "readings returned (was: no valid reading for 10 s)"}, 31)]
    assert all(e.type != "bin_full" for e in a.tick(40))


def test_pipeline_filters_then_converts_and_keeps_raw():
    p = SensorPipeline(fill_sensor(filters=[{"median": {"window_size": 3, "send_every": 1}}]), RULES, start=0.0)
    assert not p.accepts(Sample("nh3_ppm", 1.0, ""))
    assert p.accepts(Sample("distance_mm", 1.0, ""))
    readings = []
    for t, mm in enumerate([700, 700, 5, 700]):  # one bad echo
        r, _ = p.feed(Sample("distance_mm", mm, ""), t)
        readings += r
    assert [r.value for r in readings] == [50.0, 50.0, 50.0, 50.0]
    assert [r.raw for r in readings] == [700, 700, 5, 700]
    assert readings[0].as_dict() == {"id": "bin-1-level", "kind": "fill", "quantity": "fill_pct", "raw": 700, "value": 50.0,
                                     "unit": "%", "t": 0, "state": "ok"}


def test_pipeline_jsonl_id_matching():
    p = SensorPipeline(fill_sensor(driver="jsonl", port="/dev/null", json_id="b1"), RULES, start=0.0)
    assert p.accepts(Sample("distance_mm", 1.0, "", "b1"))
    assert not p.accepts(Sample("distance_mm", 1.0, "", "b2"))


def test_pipeline_alive_even_when_filters_hold_values_back():
    p = SensorPipeline(fill_sensor(filters=[{"throttle": "60s"}]), RULES, start=0.0)
    for t in range(0, 40):
        p.feed(Sample("distance_mm", 700, ""), float(t))
        _, events = p.tick(float(t) + 0.5)
        assert events == []  # throttled readings still prove the sensor is alive


@pytest.mark.parametrize("kw, words", [
    ({"kind": "odor", "driver": "sim"}, "needs gas"),
    ({"kind": "fill", "driver": "ze03", "port": "/dev/x", "empty_mm": 10, "full_mm": 5}, "measures gas"),
    ({"kind": "fill", "driver": "sim", "empty_mm": 100, "full_mm": 500}, "must be less than empty_mm"),
    ({"kind": "fill", "driver": "a02yy", "empty_mm": 500, "full_mm": 100}, "needs a serial port"),
])
def test_sensor_config_problems(kw, words):
    with pytest.raises(ValueError, match=words):
        Sensor(id="s", **kw)
