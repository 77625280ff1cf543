"""One sensor's whole pure path: raw sample -> filters -> fill % / ppm -> alarms.

    p = SensorPipeline(sensor_cfg, rules_cfg, start=now)
    if p.accepts(sample):                       # hw.sensors.protocols.Sample
        readings, events = p.feed(sample, now)
    readings, events = p.tick(now, reason=driver.status())

No threads or IO here; `edge.sensing.manager` runs it.
"""
from __future__ import annotations

import math
from typing import Any

from hw.sensors.protocols import Sample

from .alarms import AlarmEvent, Reading, SensorAlarms, fill_pct
from .filters import FilterChain


class SensorPipeline:
    def __init__(self, sensor: Any, rules: Any, start: float) -> None:
        self.sensor = sensor
        self.chain = FilterChain.from_config(sensor.filters)
        self.alarms = SensorAlarms(sensor, rules, start)
        self.last: Reading | None = None
        self.samples = 0
        if sensor.kind == "fill":
            self.quantities = {"distance_mm"}
        else:
            self.quantities = {f"{sensor.gas}_ppm", f"{sensor.gas}_alarm"}
        self.json_id = sensor.json_id or sensor.id
        self._last_quantity: str | None = None

    def accepts(self, sample: Sample) -> bool:
        """Is this sample this sensor's? (A jsonl port carries several co-processor ids.)"""
        if sample.quantity not in self.quantities:
            return False
        return sample.source_id is None or sample.source_id == self.json_id

    def feed(self, sample: Sample, now: float) -> tuple[list[Reading], list[AlarmEvent]]:
        self.samples += 1
        self._last_quantity = sample.quantity
        events = self.alarms.alive(now)
        readings: list[Reading] = []
        for v in self.chain.feed(sample.value, now):
            self._emit(v, sample.value, now, readings, events)
        return readings, events

    def tick(self, now: float, reason: str | None = None) -> tuple[list[Reading], list[AlarmEvent]]:
        readings: list[Reading] = []
        events: list[AlarmEvent] = []
        for v in self.chain.tick(now):  # a `timeout` filter speaking up
            self._emit(v, None, now, readings, events)
        events += self.alarms.tick(now, reason)
        return readings, events

    def _emit(self, v: float, raw: float | None, now: float, readings: list[Reading], events: list[AlarmEvent]) -> None:
        if math.isnan(v):
            return  # "no value": never a reading, never an alarm
        s = self.sensor
        if s.kind == "fill":
            quantity, unit, value = "fill_pct", "%", fill_pct(v, s.empty_mm, s.full_mm)
        else:
            quantity = self._last_quantity or f"{s.gas}_ppm"
            unit = "" if quantity.endswith("_alarm") else "ppm"
            value = round(v, 4)
        r = Reading(s.id, s.kind, quantity, raw, value, unit, now)
        events += self.alarms.update(r, now)
        r = Reading(s.id, s.kind, quantity, raw, value, unit, now, self.alarms.state_at(now))
        self.last = r
        readings.append(r)
