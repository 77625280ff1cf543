"""The daily statistics document (`garbage-edge/daily@1`, platform-api.md) and which days are due.
Pure: the day's figures, the incidents and `now` in, a document out.

    doc = build_daily(device_id, "2026-11-28", acc.day("2026-11-28"), bins, densities, incidents, tz)
    for date in due_dates(now, tz, send_at, first_day, queued, keep_days): ...

- `bins[id].added_l` = the day's counted climbs (% of the bin) x capacity_l; `added_kg_est` =
  added_l x the waste type's density: an estimate, and named so.
- `incidents[type]`: opened = incidents of that type opened that day, resolved = resolved that
  day, median_open_s = median of (resolved - opened) over those resolved that day (null when
  none was). `bin_emptied` events count as opened and resolved at once.
- `coverage.fill_data_minutes`: the fewest minutes with fill readings of any bin (what every
  bin's figure rests on at least); `camera_ok_minutes`: minutes the camera delivered pictures.
"""
from __future__ import annotations

import datetime as dt
import statistics
from dataclasses import dataclass
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from ..contract import DAILY_SCHEMA, INCIDENT_TYPES
from .accounting import DAY_MINUTES, DayFigures, dates_between


@dataclass(frozen=True)
class BinInfo:
    waste_type: str
    capacity_l: float


def build_daily(device_id: str, date: str, fig: DayFigures, bins: Mapping[str, BinInfo],
                densities: Mapping[str, float], incidents: Iterable[Mapping[str, Any]], tz: str) -> dict[str, Any]:
    out_bins: dict[str, Any] = {}
    by_type: dict[str, dict[str, float]] = {}
    minutes = []
    for bin_id, info in bins.items():
        bd = fig.bins.get(bin_id)
        added_l = (bd.added_pct if bd else 0.0) / 100.0 * info.capacity_l
        kg = added_l * densities.get(info.waste_type, 0.0)
        out_bins[bin_id] = {"waste_type": info.waste_type, "capacity_l": info.capacity_l, "added_l": round(added_l, 1),
                            "added_kg_est": round(kg, 1), "emptied": bd.emptied if bd else 0,
                            "full_minutes": min(DAY_MINUTES, bd.full_minutes) if bd else 0}
        sums = by_type.setdefault(info.waste_type, {"added_l": 0.0, "added_kg_est": 0.0})
        sums["added_l"] += added_l
        sums["added_kg_est"] += kg
        minutes.append(bd.data_minutes if bd else 0)
    return {
        "schema": DAILY_SCHEMA,
        "device_id": device_id,
        "date": date,
        "bins": out_bins,
        "by_waste_type": {k: {n: round(v, 1) for n, v in s.items()} for k, s in by_type.items()},
        "incidents": incident_counts(incidents, date, tz),
        "reminders": fig.reminders,
        "coverage": {"fill_data_minutes": min(DAY_MINUTES, min(minutes, default=0)),
                     "camera_ok_minutes": min(DAY_MINUTES, fig.camera_ok_minutes)},
    }


def incident_counts(docs: Iterable[Mapping[str, Any]], date: str, tz: str) -> dict[str, dict[str, Any]]:
    zone = ZoneInfo(tz)
    opened: dict[str, int] = {}
    resolved: dict[str, int] = {}
    spans: dict[str, list[float]] = {}
    for doc in docs:
        type_ = doc.get("type")
        if type_ not in INCIDENT_TYPES:
            continue
        t_open = _parse(doc.get("opened_at"))
        if t_open is not None and t_open.astimezone(zone).date().isoformat() == date:
            opened[type_] = opened.get(type_, 0) + 1
        t_res = _parse(doc.get("resolved_at")) if doc.get("state") == "resolved" else None
        if t_res is not None and t_res.astimezone(zone).date().isoformat() == date:
            resolved[type_] = resolved.get(type_, 0) + 1
            if t_open is not None:
                spans.setdefault(type_, []).append(max(0.0, (t_res - t_open).total_seconds()))
    out = {}
    for type_ in INCIDENT_TYPES:
        if type_ in opened or type_ in resolved:
            s = spans.get(type_)
            out[type_] = {"opened": opened.get(type_, 0), "resolved": resolved.get(type_, 0),
                          "median_open_s": round(statistics.median(s), 1) if s else None}
    return out


def _parse(v: Any) -> dt.datetime | None:
    try:
        return dt.datetime.fromisoformat(str(v)) if v else None
    except ValueError:
        return None


def day_start(date: str, tz: str) -> float:
    """Epoch time of a local date's midnight."""
    return dt.datetime.combine(dt.date.fromisoformat(date), dt.time(0), ZoneInfo(tz)).timestamp()


def due_dates(now: float, tz: str, send_at: dt.time, first_day: str | None, queued: Iterable[str],
              keep_days: int) -> list[str]:
    """The dates whose document should be queued now: every day from the first the box counted
    (at most keep_days back) to yesterday, not queued yet, once the next day's send_at has passed."""
    if first_day is None:
        return []
    zone = ZoneInfo(tz)
    local = dt.datetime.fromtimestamp(now, zone)
    today = local.date()
    last = today - dt.timedelta(days=1 if local.time() >= send_at else 2)
    first = max(dt.date.fromisoformat(first_day), today - dt.timedelta(days=keep_days))
    if last < first:
        return []
    done = set(queued)
    return [d for d in dates_between(first.isoformat(), last.isoformat()) if d not in done]
