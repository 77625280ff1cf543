"""Sensor filter chains with ESPHome's names and meanings. Pure: values and `now` in, values out.

Config form (a list, applied in order), e.g.

    filters:
      - filter_out: 0                       # drop these values (a number, a list, or nan)
      - clamp: {min_value: 20, max_value: 4500, ignore_out_of_range: true}
      - median: {window_size: 5, send_every: 1, send_first_at: 1}
      - sliding_window_moving_average: {window_size: 15, send_every: 15, send_first_at: 1}
      - exponential_moving_average: {alpha: 0.1, send_every: 15, send_first_at: 1}
      - throttle: 1s                        # at most one value per period
      - delta: 5                            # pass only a change of at least 5 (or "10%")
      - timeout: 10s                        # no value for 10 s: send NaN once (or {period: 10s, value: 0})
      - calibrate_linear: ["250 -> 100", "1200 -> 0"]   # or {datapoints: [...], method: exact}

Defaults are ESPHome's: median/moving average window_size 5/15 with send_every equal to
the window (values are emitted every Nth input, first after `send_first_at` inputs);
exponential_moving_average alpha 0.1, send_every 15. NaN inputs are ignored by the
windowed filters (as ESPHome does) and never reach the alarms.
"""
from __future__ import annotations

import math
import statistics
from collections import deque
from typing import Any, Iterable

_DUR_UNITS = {"ms": 0.001, "s": 1.0, "min": 60.0, "h": 3600.0}
MAX_COUNT = 100_000  # largest window or count a filter option may name


def _duration(v: Any, where: str) -> float:
    seconds = _any_duration(v, where)
    if not 0 <= seconds <= 86400:  # also refuses inf and nan
        raise ValueError(f"{where}: expected a duration from 0 to 24h, got {v!r}")
    return seconds


def _any_duration(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{where}: expected a duration such as 1s")
    if isinstance(v, (int, float)) and v >= 0:
        return float(v)
    if isinstance(v, str):
        s = v.strip()
        for unit in ("ms", "min", "h", "s"):
            if s.endswith(unit):
                try:
                    return float(s[: -len(unit)]) * _DUR_UNITS[unit]
                except ValueError:
                    break
        try:
            return float(s)
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a duration such as 1s, 500ms or 2min, got {v!r}")


def _number(v: Any, where: str) -> float:
    if isinstance(v, bool):
        raise ValueError(f"{where}: expected a number, got {v!r}")
    if isinstance(v, (int, float)):
        return float(v)
    if isinstance(v, str):
        try:
            return float(v)  # accepts "nan"
        except ValueError:
            pass
    raise ValueError(f"{where}: expected a number, got {v!r}")


class Filter:
    name = "filter"

    def feed(self, value: float, now: float) -> float | None:  # None: swallowed
        raise NotImplementedError

    def tick(self, now: float) -> float | None:  # only timeout emits without input
        return None


class _Windowed(Filter):
    def __init__(self, window_size: int, send_every: int, send_first_at: int) -> None:
        if window_size < 1 or send_every < 1 or not 1 <= send_first_at <= send_every:
            raise ValueError(f"{self.name}: needs window_size >= 1, send_every >= 1 and 1 <= send_first_at <= send_every")
        self.window: deque[float] = deque(maxlen=window_size)
        self.send_every = send_every
        self._send_at = send_every - send_first_at  # ESPHome's counter: first output after send_first_at values

    def feed(self, value: float, now: float) -> float | None:
        self.window.append(value)
        self._send_at += 1
        if self._send_at < self.send_every:
            return None
        self._send_at = 0
        vals = [v for v in self.window if not math.isnan(v)]
        return self.combine(vals) if vals else math.nan

    def combine(self, vals: list[float]) -> float:
        raise NotImplementedError


class Median(_Windowed):
    name = "median"

    def combine(self, vals: list[float]) -> float:
        return float(statistics.median(vals))


class SlidingWindowMovingAverage(_Windowed):
    name = "sliding_window_moving_average"

    def combine(self, vals: list[float]) -> float:
        return math.fsum(vals) / len(vals)


class ExponentialMovingAverage(Filter):
    name = "exponential_moving_average"

    def __init__(self, alpha: float = 0.1, send_every: int = 15, send_first_at: int = 1) -> None:
        if not 0 < alpha <= 1 or send_every < 1 or not 1 <= send_first_at <= send_every:
            raise ValueError("exponential_moving_average: needs 0 < alpha <= 1 and 1 <= send_first_at <= send_every")
        self.alpha = alpha
        self.send_every = send_every
        self._send_at = send_every - send_first_at
        self.acc: float | None = None

    def feed(self, value: float, now: float) -> float | None:
        if not math.isnan(value):
            self.acc = value if self.acc is None else self.alpha * value + (1 - self.alpha) * self.acc
        self._send_at += 1
        if self._send_at < self.send_every:
            return None
        self._send_at = 0
        return math.nan if self.acc is None else self.acc


class Throttle(Filter):
    name = "throttle"

    def __init__(self, period_s: float) -> None:
        self.period_s = period_s
        self.last: float | None = None

    def feed(self, value: float, now: float) -> float | None:
        if self.last is None or now - self.last >= self.period_s:
            self.last = now
            return value
        return None


class Delta(Filter):
    """Pass a value only when it differs from the last passed one by at least `delta` (or a percentage)."""

    name = "delta"

    def __init__(self, delta: float, percent: bool = False) -> None:
        self.delta = delta
        self.percent = percent
        self.last: float | None = None

    def feed(self, value: float, now: float) -> float | None:
        if math.isnan(value):
            return None
        if self.last is not None:
            limit = abs(self.last) * self.delta / 100.0 if self.percent else self.delta
            if abs(value - self.last) < limit:
                return None
        self.last = value
        return value


class Timeout(Filter):
    """Passes every value; when none came for `period_s`, sends `value` (default NaN) once."""

    name = "timeout"

    def __init__(self, period_s: float, value: float = math.nan) -> None:
        self.period_s = period_s
        self.value = value
        self.last_input: float | None = None
        self.fired = False

    def feed(self, value: float, now: float) -> float | None:
        self.last_input = now
        self.fired = False
        return value

    def tick(self, now: float) -> float | None:
        if self.last_input is not None and not self.fired and now - self.last_input >= self.period_s:
            self.fired = True
            return self.value
        return None


class FilterOut(Filter):
    name = "filter_out"

    def __init__(self, values: Iterable[float]) -> None:
        vals = list(values)
        self.nan = any(math.isnan(v) for v in vals)
        self.values = {v for v in vals if not math.isnan(v)}

    def feed(self, value: float, now: float) -> float | None:
        if (math.isnan(value) and self.nan) or value in self.values:
            return None
        return value


class Clamp(Filter):
    name = "clamp"

    def __init__(self, min_value: float = -math.inf, max_value: float = math.inf, ignore_out_of_range: bool = False) -> None:
        if min_value > max_value:
            raise ValueError(f"clamp: min_value ({min_value:g}) is above max_value ({max_value:g})")
        self.min_value, self.max_value, self.ignore = min_value, max_value, ignore_out_of_range

    def feed(self, value: float, now: float) -> float | None:
        if math.isnan(value):
            return value
        if value < self.min_value or value > self.max_value:
            if self.ignore:
                return None
            return min(max(value, self.min_value), self.max_value)
        return value


class CalibrateLinear(Filter):
    """Maps measured -> true values: least-squares line through the points, or `exact` piecewise."""

    name = "calibrate_linear"

    def __init__(self, points: list[tuple[float, float]], method: str = "least_squares") -> None:
        if len(points) < 2:
            raise ValueError("calibrate_linear: needs at least 2 datapoints")
        if method not in ("least_squares", "exact"):
            raise ValueError(f"calibrate_linear: method must be least_squares or exact, got {method!r}")
        self.method = method
        self.points = sorted(points)
        xs = [p[0] for p in points]
        if len(set(xs)) < 2 or (method == "exact" and len(set(xs)) != len(xs)):
            raise ValueError("calibrate_linear: datapoints need distinct measured values")
        n = len(points)
        mx = math.fsum(xs) / n
        my = math.fsum(p[1] for p in points) / n
        sxx = math.fsum((x - mx) ** 2 for x in xs)
        self.slope = math.fsum((x - mx) * (y - my) for x, y in points) / sxx
        self.bias = my - self.slope * mx

    def feed(self, value: float, now: float) -> float | None:
        if math.isnan(value):
            return value
        if self.method == "least_squares":
            return self.slope * value + self.bias
        pts = self.points
        # exact: the segment holding the value; outside, the nearest end segment extended
        i = 1
        while i < len(pts) - 1 and value > pts[i][0]:
            i += 1
        (x0, y0), (x1, y1) = pts[i - 1], pts[i]
        return y0 + (y1 - y0) * (value - x0) / (x1 - x0)


def _point(p: Any, where: str) -> tuple[float, float]:
    if isinstance(p, str) and "->" in p:
        a, b = p.split("->", 1)
        return _number(a.strip(), where), _number(b.strip(), where)
    if isinstance(p, (list, tuple)) and len(p) == 2:
        return _number(p[0], where), _number(p[1], where)
    raise ValueError(f"{where}: a datapoint is \"measured -> true\" or [measured, true], got {p!r}")


def _params(spec: Any, name: str, allowed: set[str]) -> dict[str, Any]:
    if spec is None:
        return {}
    if not isinstance(spec, dict):
        raise ValueError(f"{name}: expected options {{{', '.join(sorted(allowed))}}}, got {spec!r}")
    unknown = set(spec) - allowed
    if unknown:
        raise ValueError(f"{name}: unknown option {sorted(unknown)[0]!r} (known: {', '.join(sorted(allowed))})")
    return spec


def _int(v: Any, where: str) -> int:
    if isinstance(v, bool) or not isinstance(v, int):
        raise ValueError(f"{where}: expected a whole number, got {v!r}")
    if abs(v) > MAX_COUNT:  # a window of 10**12 readings would exhaust memory long before it fills
        raise ValueError(f"{where}: at most {MAX_COUNT}, got {v}")
    return v


def build_filter(name: str, spec: Any) -> Filter:
    if name in ("median", "sliding_window_moving_average"):
        default = 5 if name == "median" else 15
        p = _params(spec, name, {"window_size", "send_every", "send_first_at"})
        w = _int(p.get("window_size", default), f"{name}.window_size")
        cls = Median if name == "median" else SlidingWindowMovingAverage
        return cls(w, _int(p.get("send_every", w), f"{name}.send_every"), _int(p.get("send_first_at", 1), f"{name}.send_first_at"))
    if name == "exponential_moving_average":
        p = _params(spec, name, {"alpha", "send_every", "send_first_at"})
        return ExponentialMovingAverage(_number(p.get("alpha", 0.1), f"{name}.alpha"),
                                        _int(p.get("send_every", 15), f"{name}.send_every"),
                                        _int(p.get("send_first_at", 1), f"{name}.send_first_at"))
    if name == "throttle":
        return Throttle(_duration(spec, name))
    if name == "delta":
        if isinstance(spec, str) and spec.strip().endswith("%"):
            return Delta(_number(spec.strip()[:-1], name), percent=True)
        d = _number(spec, name)
        if d < 0:
            raise ValueError("delta: must not be negative")
        return Delta(d)
    if name == "timeout":
        if isinstance(spec, dict):
            p = _params(spec, name, {"period", "value"})
            if "period" not in p:
                raise ValueError("timeout: needs period")
            return Timeout(_duration(p["period"], name), _number(p.get("value", "nan"), f"{name}.value"))
        return Timeout(_duration(spec, name))
    if name == "filter_out":
        vals = spec if isinstance(spec, list) else [spec]
        return FilterOut(_number(v, name) for v in vals)
    if name == "clamp":
        p = _params(spec, name, {"min_value", "max_value", "ignore_out_of_range"})
        ignore = p.get("ignore_out_of_range", False)
        if not isinstance(ignore, bool):
            raise ValueError("clamp.ignore_out_of_range: expected true or false")
        return Clamp(_number(p.get("min_value", "-inf"), f"{name}.min_value"),
                     _number(p.get("max_value", "inf"), f"{name}.max_value"), ignore)
    if name == "calibrate_linear":
        method = "least_squares"
        pts = spec
        if isinstance(spec, dict):
            p = _params(spec, name, {"datapoints", "method"})
            pts, method = p.get("datapoints"), p.get("method", method)
        if not isinstance(pts, list):
            raise ValueError("calibrate_linear: expected a list of \"measured -> true\" datapoints")
        return CalibrateLinear([_point(x, name) for x in pts], method)
    raise ValueError(f"unknown filter {name!r} (known: {', '.join(FILTER_NAMES)})")


FILTER_NAMES = ("median", "sliding_window_moving_average", "exponential_moving_average", "throttle", "delta",
                "timeout", "filter_out", "clamp", "calibrate_linear")


class FilterChain:
    """The filters of one sensor, in order. `feed` and `tick` return the values that come out."""

    def __init__(self, filters: list[Filter]) -> None:
        self.filters = filters

    @classmethod
    def from_config(cls, specs: list[dict[str, Any]]) -> "FilterChain":
        """Build from the config list; raises ValueError naming the filter (and its index) on a bad entry."""
        filters = []
        for i, item in enumerate(specs):
            if not isinstance(item, dict) or len(item) != 1:
                raise ValueError(f"filters[{i}]: each filter is a one-key mapping such as {{median: {{window_size: 5}}}}")
            (name, spec), = item.items()
            try:
                filters.append(build_filter(str(name), spec))
            except ValueError as e:
                raise ValueError(f"filters[{i}]: {e}") from None
        return cls(filters)

    def _run(self, value: float, start: int, now: float) -> float | None:
        for f in self.filters[start:]:
            out = f.feed(value, now)
            if out is None:
                return None
            value = out
        return value

    def feed(self, value: float, now: float) -> list[float]:
        out = self._run(value, 0, now)
        return [] if out is None else [out]

    def tick(self, now: float) -> list[float]:
        outs = []
        for i, f in enumerate(self.filters):
            v = f.tick(now)
            if v is not None:
                r = self._run(v, i + 1, now)
                if r is not None:
                    outs.append(r)
        return outs
