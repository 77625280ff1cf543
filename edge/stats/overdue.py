"""Collection supervision (清运监管): a full bin not emptied in its collection window. Pure.

    watch = CollectionWatch(cfg.stats.collection, tz, subjects={"bin-1": {"bin_id": "bin-1", "sensor_id": "bin-1-level"}},
                            open_bins={"bin-1"}, state=saved)   # open_bins: restored open collection_overdue
    events = watch.tick(now, levels={"bin-1": 72.0})            # call every few seconds
    events = watch.emptied("bin-1", now)                        # the bin was emptied
    saved = watch.state()

Events are `edge.sensing.alarms.AlarmEvent`s ("open" | "resolve", "collection_overdue", subject,
measurements, t), routed like the sensors' own alarms.

Rule, for each scheduled time T of a bin (local time of day, every day):
- the collection may come from T to T + window_s; after T + window_s + grace_s (the deadline)
  a bin that was not emptied since T and whose level is at least level_pct opens
  `collection_overdue` (measurements: fill_pct, scheduled_at, deadline_at);
- a bin below level_pct at the deadline raises nothing for that T: it did not need emptying.
  Without a level at the deadline (sensor gap, agent stopped), the first level that comes
  before the next deadline decides;
- the next emptying resolves it (with the time it took beyond the deadline, late_s).
"""
from __future__ import annotations

import datetime as dt
from typing import Any, Iterable, Mapping
from zoneinfo import ZoneInfo

from ..sensing.alarms import AlarmEvent

TYPE = "collection_overdue"


class CollectionWatch:
    def __init__(self, rule: Any, tz: str, subjects: Mapping[str, Mapping[str, Any]], open_bins: Iterable[str] = (),
                 state: dict[str, Any] | None = None):
        """`rule`: the config's stats.collection; `subjects`: bin id -> incident subject (bins with a
        fill sensor). Bins without a schedule are not watched."""
        self.tz = ZoneInfo(tz)
        self.window_s = float(rule.window_s)
        self.grace_s = float(rule.grace_s)
        self.level_pct = float(rule.level_pct)
        self.times = {b: rule.times(b) for b in subjects if rule.times(b)}
        self.subjects = {b: dict(subjects[b]) for b in self.times}
        state = state or {}
        self.last_emptied: dict[str, float] = {b: float(v) for b, v in (state.get("last_emptied") or {}).items()}
        self.checked: dict[str, float] = {b: float(v) for b, v in (state.get("checked") or {}).items()}
        self.open: dict[str, float] = {}  # bin -> deadline it was opened for
        saved_open = state.get("open") or {}
        for b in open_bins:  # the outbox says which are open; the state says since which deadline
            if b in self.times:
                self.open[b] = float(saved_open.get(b, 0.0))

    def _slots(self, bin_id: str, now: float) -> list[tuple[float, float]]:
        """(scheduled time, deadline) of the bin's slots whose deadline lies in the last two days, oldest first."""
        local = dt.datetime.fromtimestamp(now, self.tz)
        out = []
        for days_back in (2, 1, 0):
            day = (local - dt.timedelta(days=days_back)).date()
            for t in self.times[bin_id]:
                start = dt.datetime.combine(day, t, self.tz).timestamp()
                deadline = start + self.window_s + self.grace_s
                if deadline <= now:
                    out.append((start, deadline))
        return sorted(out, key=lambda s: s[1])

    def tick(self, now: float, levels: Mapping[str, float | None]) -> list[AlarmEvent]:
        events: list[AlarmEvent] = []
        for b in self.times:
            slots = self._slots(b, now)
            if not slots:
                continue
            if b not in self.checked:  # first run: a deadline already past is not ours to judge
                self.checked[b] = slots[-1][1]
            due = [s for s in slots if s[1] > self.checked[b]]
            if not due:
                continue
            start, deadline = due[-1]  # older missed slots are superseded by the newest one
            if self.last_emptied.get(b, float("-inf")) >= start:
                self.checked[b] = deadline  # collected in time (or not yet due again)
                continue
            level = levels.get(b)
            if level is None:
                continue  # no level yet: the first one decides (until the next deadline supersedes it)
            self.checked[b] = deadline
            if level < self.level_pct or b in self.open:
                continue
            self.open[b] = deadline
            events.append(AlarmEvent("open", TYPE, dict(self.subjects[b]), {
                "fill_pct": round(float(level), 1), "scheduled_at": self._iso(start),
                "deadline_at": self._iso(deadline)}, now))
        return events

    def emptied(self, bin_id: str, now: float) -> list[AlarmEvent]:
        if bin_id not in self.times:
            return []
        self.last_emptied[bin_id] = now
        deadline = self.open.pop(bin_id, None)
        if deadline is None:
            return []
        m: dict[str, Any] = {"resolution": "emptied"}
        if deadline > 0:
            m["late_s"] = round(now - deadline, 1)
        return [AlarmEvent("resolve", TYPE, dict(self.subjects[bin_id]), m, now)]

    def _iso(self, t: float) -> str:
        return dt.datetime.fromtimestamp(t, self.tz).isoformat(timespec="seconds")

    def state(self) -> dict[str, Any]:
        return {"last_emptied": dict(self.last_emptied), "checked": dict(self.checked), "open": dict(self.open)}
