"""Readings -> alarm events, for one sensor. Pure: every call takes `now`; no threads, no IO.

    alarms = SensorAlarms(sensor_cfg, rules_cfg, start=now)
    events = alarms.update(reading, now)      # a filtered reading arrived
    events = alarms.alive(now)                # a valid raw sample arrived (filters may hold it back)
    events = alarms.tick(now, reason=None)    # call often (e.g. 5x a second): timeouts, held levels

Events (`AlarmEvent`, a named tuple):
    ("open" | "resolve", "bin_full" | "odor_high" | "sensor_fault", subject, measurements, t)
    ("event", "bin_emptied", subject, {"fill_pct_before": .., "fill_pct_after": ..}, t)
`subject` is {"bin_id": .., "sensor_id": ..} (the platform's subject block). Measurements:
bin_full {"fill_pct"}, odor_high {"<gas>_ppm"} (or {"<gas>_alarm": 1} for a DO pin),
sensor_fault {"reason"}.

Rules:
- bin_full opens when fill % >= open_pct has held for min_duration_s, resolves when
  <= clear_pct has held as long (hysteresis: no flapping around one mark).
- bin_emptied: fill fell by >= drop_pct from its highest level of the last within_s that
  held for hold_s (a lid swinging through the beam reads as a short high spike, and its end
  is no emptying); reported once the level stops falling, with the level before and after.
- odor_high: same hysteresis on ppm per the gas's thresholds; nothing alarms during the
  sensor's warm-up (MQ heaters) after start.
- sensor_fault opens when no valid reading came for timeout_s, resolves on the next one.
"""
from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass
from typing import Any, NamedTuple

SETTLE_PTS = 1.0  # bin_emptied: a further fall smaller than this means the level has settled


def sustained_peak(history: deque[tuple[float, float]], hold_s: float, now: float) -> float | None:
    """The highest level that every sample of some hold_s stretch reached.

    A sliding minimum over windows [t, t + hold_s] that have ended by `now`, maximised; one pass
    with a monotonic deque, since a fast sensor keeps thousands of samples in within_s. None
    until a whole stretch exists: in the first hold_s after the start or an emptying no
    emptying can be told from a lid opening, so none is reported.
    """
    best: float | None = None
    lows: deque[int] = deque()  # indices into history whose values increase
    j, n = 0, len(history)
    for i in range(n):
        start = history[i][0]
        if start + hold_s > now:
            break
        while j < n and history[j][0] <= start + hold_s:
            while lows and history[lows[-1]][1] >= history[j][1]:
                lows.pop()
            lows.append(j)
            j += 1
        while lows[0] < i:
            lows.popleft()
        low = history[lows[0]][1]
        best = low if best is None else max(best, low)
    return best


class AlarmEvent(NamedTuple):
    action: str  # open | resolve | event
    type: str  # bin_full | odor_high | sensor_fault | bin_emptied
    subject: dict[str, Any]
    measurements: dict[str, Any]
    t: float


@dataclass(frozen=True)
class Reading:
    """One filtered value of one sensor.

    kind: fill | odor. quantity: fill_pct, <gas>_ppm or <gas>_alarm. raw: the unfiltered
    sensor value (distance in mm, ppm, 0/1), None when a filter produced the value on its
    own (timeout). value: in `unit` (%, ppm, or "" for a 0/1 alarm pin). t: the manager's
    clock. state: ok | full | high | warmup | fault, after this reading.
    """

    sensor_id: str
    kind: str
    quantity: str
    raw: float | None
    value: float
    unit: str
    t: float
    state: str = "ok"

    def as_dict(self) -> dict[str, Any]:
        return {"id": self.sensor_id, "kind": self.kind, "quantity": self.quantity, "raw": self.raw,
                "value": self.value, "unit": self.unit, "t": self.t, "state": self.state}


def fill_pct(distance_mm: float, empty_mm: float, full_mm: float) -> float:
    """0 % at the empty distance, 100 % at the full distance, clamped to 0..100, one decimal."""
    pct = (empty_mm - distance_mm) / (empty_mm - full_mm) * 100.0
    return round(min(100.0, max(0.0, pct)), 1)


class Hysteresis:
    """Opens when value >= open_at has held min_duration_s; resolves when <= clear_at has held as long."""

    def __init__(self, open_at: float, clear_at: float, min_duration_s: float) -> None:
        self.open_at, self.clear_at, self.min_duration_s = open_at, clear_at, min_duration_s
        self.active = False
        self.since: float | None = None  # when the condition for the next flip began to hold
        self.last: float | None = None

    def _cond(self, value: float) -> bool:
        return value <= self.clear_at if self.active else value >= self.open_at

    def update(self, value: float, now: float) -> str | None:
        self.last = value
        if not self._cond(value):
            self.since = None
            return None
        if self.since is None:
            self.since = now
        return self.tick(now)

    def tick(self, now: float) -> str | None:
        if self.since is None or now - self.since < self.min_duration_s:
            return None
        self.since = None
        self.active = not self.active
        return "open" if self.active else "resolve"

    def interrupt(self) -> None:
        """Forget a pending flip (the readings stopped: the level no longer 'holds')."""
        self.since = None


class SensorAlarms:
    def __init__(self, sensor: Any, rules: Any, start: float) -> None:
        """`sensor`: a config Sensor; `rules`: the config's `rules` section; `start`: now."""
        self.sensor = sensor
        self.start = start
        self.subject = {"bin_id": sensor.bin, "sensor_id": sensor.id}
        self.timeout_s = sensor.timeout_s
        self.warmup_s = sensor.warmup_s if sensor.kind == "odor" else 0.0
        self.last_alive = start
        self.faulted = False
        self.fault_reason: str | None = None
        self.level: Hysteresis | None = None
        self.full_rule = rules.bin_full
        self.emptied_rule = rules.bin_emptied
        self._history: deque[tuple[float, float]] = deque()
        self._pending: tuple[float, float, float] | None = None  # (before, lowest so far, since)
        self.last_value: float | None = None
        if sensor.kind == "fill":
            r = rules.bin_full
            self.level = Hysteresis(r.open_pct, r.clear_pct, r.min_duration_s)
            self.alarm_type = "bin_full"
        else:
            self.alarm_type = "odor_high"
            self.gas = sensor.gas
            th = rules.odor_high.thresholds.get(sensor.gas) if sensor.gas else None
            self._odor_rule = rules.odor_high
            self._threshold = th
            self._digital = None  # decided by the first reading's quantity

    # --- state -------------------------------------------------------------------------
    def in_warmup(self, now: float) -> bool:
        return now - self.start < self.warmup_s

    @property
    def state(self) -> str:
        if self.faulted:
            return "fault"
        if self.level is not None and self.level.active:
            return "full" if self.sensor.kind == "fill" else "high"
        return "ok"

    def state_at(self, now: float) -> str:
        s = self.state
        return "warmup" if s == "ok" and self.in_warmup(now) else s

    # --- inputs --------------------------------------------------------------------------
    def alive(self, now: float) -> list[AlarmEvent]:
        self.last_alive = now
        if self.faulted:
            self.faulted = False
            reason, self.fault_reason = self.fault_reason, None
            return [AlarmEvent("resolve", "sensor_fault", dict(self.subject), {"reason": f"readings returned (was: {reason})"}, now)]
        return []

    def update(self, reading: Reading, now: float) -> list[AlarmEvent]:
        events = self.alive(now)
        v = reading.value
        if v is None or math.isnan(v):
            return events
        self.last_value = v
        if self.sensor.kind == "fill":
            events += self._fill(v, now)
        else:
            events += self._odor(reading, v, now)
        return events

    def tick(self, now: float, reason: str | None = None) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        if not self.faulted and now - self.last_alive >= self.timeout_s:
            self.faulted = True
            why = f"no valid reading for {now - self.last_alive:.0f} s"
            if reason and reason != "ok":
                why += f" ({reason})"
            self.fault_reason = why
            if self.level is not None:
                self.level.interrupt()
            return [AlarmEvent("open", "sensor_fault", dict(self.subject), {"reason": why}, now)]
        if self.faulted:
            return events
        if self.level is not None and not self.in_warmup(now):
            flip = self.level.tick(now)
            if flip:
                events.append(self._level_event(flip, now))
        if self._pending is not None and now - self._pending[2] >= self.emptied_rule.within_s:
            events.append(self._emptied(now))
        return events

    # --- fill ----------------------------------------------------------------------------
    def _fill(self, pct: float, now: float) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        assert self.level is not None
        flip = self.level.update(pct, now)
        if flip:
            events.append(self._level_event(flip, now))
        rule = self.emptied_rule
        if self._pending is not None:
            before, low, since = self._pending
            if pct < low - SETTLE_PTS and now - since < rule.within_s:
                self._pending = (before, pct, since)
            else:
                events.append(self._emptied(now, after=min(low, pct)))
                self._history.append((now, pct))
            return events
        hist = self._history
        hist.append((now, pct))
        while hist and now - hist[0][0] > rule.within_s:
            hist.popleft()
        peak = sustained_peak(hist, rule.hold_s, now)
        if peak is not None and peak - pct >= rule.drop_pct:
            self._pending = (peak, pct, now)
        return events

    def _emptied(self, now: float, after: float | None = None) -> AlarmEvent:
        assert self._pending is not None
        before, low, _ = self._pending
        self._pending = None
        self._history.clear()
        after = low if after is None else after
        return AlarmEvent("event", "bin_emptied", dict(self.subject),
                          {"fill_pct_before": before, "fill_pct_after": after}, now)

    # --- odor ----------------------------------------------------------------------------
    def _odor(self, reading: Reading, v: float, now: float) -> list[AlarmEvent]:
        if self.level is None:
            if reading.quantity.endswith("_alarm"):
                self.level = Hysteresis(1.0, 0.0, self._odor_rule.min_duration_s)
            elif self._threshold is not None:
                self.level = Hysteresis(self._threshold.open_ppm, self._threshold.clear_ppm, self._odor_rule.min_duration_s)
            else:
                return []  # no threshold for this gas: readings only
            self._quantity = reading.quantity
        if self.in_warmup(now):
            return []
        flip = self.level.update(v, now)
        return [self._level_event(flip, now)] if flip else []

    def _level_event(self, flip: str, now: float) -> AlarmEvent:
        if self.sensor.kind == "fill":
            m = {"fill_pct": self.last_value}
        else:
            m = {self._quantity: self.last_value}
        return AlarmEvent(flip, self.alarm_type, dict(self.subject), m, now)
