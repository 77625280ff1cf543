"""ESPHome-named filters: each one's meaning, the chain, and config errors. Pure: no sleeping."""
from __future__ import annotations

import math

import pytest
from pydantic import ValidationError

from edge.config.sensors import Sensor
from edge.sensing.filters import FilterChain


def run(specs, values, dt=1.0):
    chain = FilterChain.from_config(specs)
    out = []
    for i, v in enumerate(values):
        out += chain.feed(v, i * dt)
    return out


def test_median_defaults_send_every_window():
    # ESPHome: window 5, send_every 5, first at 1 -> outputs at inputs 1, 6, 11
    out = run([{"median": {"window_size": 5}}], [1, 100, 2, 3, 4, 5, 6, 7, 8, 9, 10])
    assert out == [1, 4, 8]  # window [100, 2, 3, 4, 5] -> 4


def test_median_send_every_one_drops_spikes():
    out = run([{"median": {"window_size": 3, "send_every": 1}}], [10, 10, 999, 10, 11, 12])
    assert out == [10, 10, 10, 10, 11, 11]


def test_median_send_first_at():
    out = run([{"median": {"window_size": 3, "send_every": 3, "send_first_at": 2}}], [1, 2, 3, 4, 5, 6])
    assert out == [1.5, 4]


def test_sliding_window_moving_average():
    out = run([{"sliding_window_moving_average": {"window_size": 3, "send_every": 1}}], [3, 6, 9, 12])
    assert out == pytest.approx([3, 4.5, 6, 9])
    # default: window 15, send every 15, first at 1
    out = run([{"sliding_window_moving_average": None}], list(range(1, 31)))
    assert out == pytest.approx([1, sum(range(2, 17)) / 15])


def test_exponential_moving_average():
    out = run([{"exponential_moving_average": {"alpha": 0.5, "send_every": 1}}], [0, 10, 10])
    assert out == pytest.approx([0, 5, 7.5])
    out = run([{"exponential_moving_average": {"alpha": 0.5, "send_every": 2}}], [0, 10, 10, 10])
    assert out == pytest.approx([0, 7.5])  # first at 1, then every 2nd


def test_throttle_uses_the_clock_argument():
    chain = FilterChain.from_config([{"throttle": "1s"}])
    times = [0.0, 0.3, 0.99, 1.0, 1.5, 2.2]
    out = [v for i, t in enumerate(times) for v in chain.feed(float(i), t)]
    assert out == [0.0, 3.0, 5.0]


def test_delta_absolute_and_percent():
    assert run([{"delta": 5}], [100, 103, 104.9, 105, 99, 100]) == [100, 105, 99]
    assert run([{"delta": "10%"}], [100, 105, 110, 120, 121]) == [100, 110, 121]


def test_timeout_sends_nan_once_after_silence():
    chain = FilterChain.from_config([{"timeout": "10s"}])
    assert chain.feed(5.0, 0.0) == [5.0]
    assert chain.tick(9.9) == []
    [v] = chain.tick(10.0)
    assert math.isnan(v)
    assert chain.tick(30.0) == []  # once
    assert chain.feed(6.0, 31.0) == [6.0]
    chain = FilterChain.from_config([{"timeout": {"period": 2, "value": 0}}, {"clamp": {"min_value": 1}}])
    chain.feed(5.0, 0.0)
    assert chain.tick(2.0) == [1.0]  # the timeout value runs through the later filters


def test_filter_out_values_and_nan():
    assert run([{"filter_out": 0}], [0, 5, 0, 6]) == [5, 6]
    out = run([{"filter_out": [0, "nan"]}], [0, math.nan, 7])
    assert out == [7]


def test_clamp_and_ignore_out_of_range():
    assert run([{"clamp": {"min_value": 20, "max_value": 100}}], [5, 50, 500]) == [20, 50, 100]
    assert run([{"clamp": {"min_value": 20, "max_value": 100, "ignore_out_of_range": True}}], [5, 50, 500]) == [50]


def test_calibrate_linear_least_squares_and_exact():
    out = run([{"calibrate_linear": ["0 -> 10", "100 -> 210"]}], [50, 0])
    assert out == pytest.approx([110, 10])
    out = run([{"calibrate_linear": [[0, 0], [10, 20], [20, 60]]}], [10])  # least squares through 3 points
    assert out == pytest.approx([80 / 3])  # y = 3x - 10/3
    out = run([{"calibrate_linear": {"datapoints": ["0 -> 0", "10 -> 20", "20 -> 60"], "method": "exact"}}], [5, 15, 30])
    assert out == pytest.approx([10, 40, 100])


def test_chain_in_order():
    specs = [{"filter_out": 0}, {"median": {"window_size": 3, "send_every": 1}}, {"delta": 2}]
    assert run(specs, [10, 0, 11, 0, 30, 31, 32]) == [10, 30]


@pytest.mark.parametrize("specs, words", [
    ([{"median": {"window": 3}}], "unknown option 'window'"),
    ([{"medain": None}], "unknown filter 'medain'"),
    ([{"throttle": "fast"}], "duration"),
    ([{"median": {"window_size": 3}, "delta": 1}], "one-key mapping"),
    ([{"calibrate_linear": ["1 -> 2"]}], "at least 2 datapoints"),
    ([{"clamp": {"min_value": 10, "max_value": 1}}], "above max_value"),
    ([{"exponential_moving_average": {"alpha": 2}}], "alpha"),
])
def test_bad_filters_are_config_errors(specs, words):
    with pytest.raises(ValueError, match=words):
        FilterChain.from_config(specs)
    with pytest.raises(ValidationError, match="filters"):
        Sensor(id="s", kind="odor", driver="sim", gas="nh3", filters=specs)
