"""Telemetry documents (`garbage-edge/telemetry@1`) and when to send them (pure).

    sched = TelemetrySchedule(cfg.uplink.telemetry_s)
    if sched.due(now_monotonic, changed=state_changed):
        outbox.enqueue_telemetry(build_telemetry(cfg.device.id, tz, time.time(), readings, health,
                                                 outbox_counts=outbox.counts()))
        sched.sent(now_monotonic)
"""
from __future__ import annotations

import copy
import datetime as dt
from typing import Any, Mapping
from zoneinfo import ZoneInfo

from ..contract import TELEMETRY_SCHEMA
from ..incidents.book import format_time


def build_telemetry(
    device_id: str,
    tz: dt.tzinfo | str,
    now: float | dt.datetime,
    readings: Mapping[str, Mapping[str, Any]],
    health: Mapping[str, Any],
    outbox_counts: Mapping[str, int] | None = None,
) -> dict[str, Any]:
    """readings: {sensor_id: {"fill_pct": 72.5}}; health: uptime_s, camera, sensors, disk_free_mb,
    cpu_temp_c, … ; outbox_counts (Outbox.counts()) fills outbox_pending and dead_letters."""
    tz = ZoneInfo(tz) if isinstance(tz, str) else tz
    h = copy.deepcopy(dict(health))
    if outbox_counts is not None:
        h["outbox_pending"] = int(outbox_counts.get("pending", 0))
        h["dead_letters"] = int(outbox_counts.get("dead_letters", 0))
    h.setdefault("outbox_pending", 0)
    h.setdefault("dead_letters", 0)
    return {
        "schema": TELEMETRY_SCHEMA,
        "device_id": device_id,
        "sent_at": format_time(now, tz),
        "readings": copy.deepcopy({k: dict(v) for k, v in readings.items()}),
        "health": h,
    }


class TelemetrySchedule:
    """Every `period_s`, and at once when the state changed (but not more often than
    `min_gap_s`, so a flapping sensor cannot flood the uplink)."""

    def __init__(self, period_s: float, min_gap_s: float = 1.0):
        self.period_s = period_s
        self.min_gap_s = min_gap_s
        self._last: float | None = None

    def due(self, now: float, changed: bool = False) -> bool:
        if self._last is None:
            return True
        gap = now - self._last
        return gap >= self.period_s or (changed and gap >= self.min_gap_s)

    def sent(self, now: float) -> None:
        self._last = now
