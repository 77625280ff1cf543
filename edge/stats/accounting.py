"""What each bin collected, day by day. Pure: readings and `now` in, figures out; no I/O.

    acc = Accounting(bins={"bin-1": "wet"}, tz="Asia/Shanghai", settle_s=120, deadband_pct=2,
                     drop_pct=40, state=saved)              # saved: a former acc.state() (or None)
    acc.fill("bin-1", 63.2, now, full=False)     # a filtered fill reading (the sensor pipeline's)
    acc.emptied("bin-1", now)                    # the sensor's bin_emptied event
    acc.fault("bin-1", now)                      # the sensor's sensor_fault opened
    acc.camera(ok=True, now=now)                 # call every few seconds: minutes the camera was ok
    acc.spoken(now)                              # the speaker played a reminder
    acc.day("2026-11-28")                        # DayFigures of that local date
    saved = acc.state()                          # JSON-able; give it to the next Accounting

How the litres come about (docs/stats.md says how far to trust them):

- The level of a bin is the median of its readings over the last `settle_s`: sensor noise
  averages out and a short spike (a lid opened, a hand or a bag under the sensor) that lasts
  less than half of `settle_s` never moves it. No level is taken from fewer than 3 readings
  covering half of `settle_s`.
- Added volume is counted as the level climbs: once the level stands `deadband_pct` above the
  reference, the whole climb counts and the reference moves up to it; when it stands
  `deadband_pct` below (rubbish settling, the bin being emptied), the reference follows it down
  without counting. So noise never adds up, compaction is not mistaken for removal, and
  additions smaller than the deadband are counted once they add up to it. For `settle_s`
  after a counted climb every further rise counts too, so the end of a climb is not lost
  below the deadband.
- An emptying ends the bin's cycle. The sensor's bin_emptied event makes the accounting
  forget the readings before it and check the first level after it: at least `drop_pct` (the
  bin_emptied rule's) below the highest reference of the rule's `within_s` (plus `settle_s`)
  before it, the emptying counts and that level starts the next
  cycle; otherwise it was no emptying (a lid swung through the beam and the level "fell" back
  from the spike) and nothing changes.
- A gap (no reading for longer than `settle_s`: a sensor gap, a sensor fault, the agent
  stopped) forgets the window too and checks the first level after it the same way: lower
  by `drop_pct`, the bin was emptied meanwhile (an emptying nobody saw); higher, the climb is
  waste put in meanwhile and counts.
- Readings the sensor gives while it is faulted, and values a filter made on its own, are
  not given here (the service leaves them out).
- A day is a local calendar day of the device's time zone; a climb counts on the day its
  level was taken.
"""
from __future__ import annotations

import datetime as dt
import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Iterable
from zoneinfo import ZoneInfo

MIN_READINGS = 3
DAY_MINUTES = 1440


@dataclass
class BinDay:
    added_pct: float = 0.0  # sum of counted climbs, in % of the bin
    emptied: int = 0  # emptyings (bin_emptied events and emptyings found after a gap)
    emptied_unseen: int = 0  # of those, found after a gap
    full_minutes: int = 0  # minutes whose first reading said the bin was full (bin_full state)
    data_minutes: int = 0  # minutes with at least one reading
    last_minute: int = -1  # the last minute counted (minute of the day), so none counts twice

    def as_dict(self) -> dict[str, Any]:
        return {"added_pct": round(self.added_pct, 4), "emptied": self.emptied, "emptied_unseen": self.emptied_unseen,
                "full_minutes": self.full_minutes, "data_minutes": self.data_minutes, "last_minute": self.last_minute}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "BinDay":
        return cls(float(d.get("added_pct", 0.0)), int(d.get("emptied", 0)), int(d.get("emptied_unseen", 0)),
                   int(d.get("full_minutes", 0)), int(d.get("data_minutes", 0)), int(d.get("last_minute", -1)))


@dataclass
class DayFigures:
    """One local day: per bin, and for the room (camera minutes, reminders spoken)."""

    date: str
    bins: dict[str, BinDay] = field(default_factory=dict)
    camera_ok_minutes: int = 0
    camera_last_minute: int = -1
    reminders: int = 0
    emptied_at: dict[str, list[float]] = field(default_factory=dict)  # bin -> epoch times of emptyings

    def as_dict(self) -> dict[str, Any]:
        return {"date": self.date, "bins": {b: v.as_dict() for b, v in self.bins.items()},
                "camera_ok_minutes": self.camera_ok_minutes, "camera_last_minute": self.camera_last_minute,
                "reminders": self.reminders, "emptied_at": self.emptied_at}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "DayFigures":
        return cls(str(d["date"]), {b: BinDay.from_dict(v) for b, v in (d.get("bins") or {}).items()},
                   int(d.get("camera_ok_minutes", 0)), int(d.get("camera_last_minute", -1)), int(d.get("reminders", 0)),
                   {b: [float(t) for t in ts] for b, ts in (d.get("emptied_at") or {}).items()})


class _Level:
    """One bin's window of readings and its reference level (not kept across a restart: the
    reference is, in the saved state)."""

    def __init__(self, ref: float | None, last_t: float | None):
        self.window: deque[tuple[float, float]] = deque()
        self.ref = ref
        self.last_t = last_t
        self.level: float | None = None  # the newest median, once the window is good enough
        self.rising_until = float("-inf")  # after a counted climb, every rise counts until then
        # (t, reference) of the recent references: an emptying is measured from the level before
        # the fall, which the reference may already have followed down when the event comes
        self.recent: deque[tuple[float, float]] = deque()
        # the first level after a gap or an emptying event is checked for a fall of drop_pct:
        # None (no check), "gap" or "event" (what asked for it)
        self.check: str | None = "gap" if ref is not None else None


class Accounting:
    def __init__(self, bins: dict[str, str], tz: str, settle_s: float = 120.0, deadband_pct: float = 2.0,
                 drop_pct: float = 40.0, keep_days: int = 14, state: dict[str, Any] | None = None,
                 within_s: float = 300.0):
        """`bins`: bin id -> waste type (the bins that have a fill sensor)."""
        self.bins = dict(bins)
        self.tz = ZoneInfo(tz)
        self.settle_s = float(settle_s)
        self.deadband = float(deadband_pct)
        self.drop_pct = float(drop_pct)
        self.recent_s = float(within_s) + self.settle_s  # the bin_emptied rule's window, plus the level's lag
        self.keep_days = int(keep_days)
        self.days: dict[str, DayFigures] = {}
        self.first_day: str | None = None
        refs: dict[str, Any] = {}
        if state:
            self.days = {d: DayFigures.from_dict(v) for d, v in (state.get("days") or {}).items()}
            self.first_day = state.get("first_day")
            refs = state.get("bins") or {}
        self._levels = {b: _Level(_opt(refs.get(b, {}).get("ref")), _opt(refs.get(b, {}).get("last_t")))
                        for b in self.bins}

    # -- time ------------------------------------------------------------------------------

    def local(self, now: float) -> tuple[str, int]:
        """(local date, minute of the day) of an epoch time."""
        t = dt.datetime.fromtimestamp(now, self.tz)
        return t.date().isoformat(), min(DAY_MINUTES - 1, t.hour * 60 + t.minute)

    def _day(self, date: str) -> DayFigures:
        fig = self.days.get(date)
        if fig is None:
            fig = self.days[date] = DayFigures(date)
            if self.first_day is None or date < self.first_day:
                self.first_day = date
            for old in sorted(self.days)[:-self.keep_days - 1]:  # today and keep_days before it
                del self.days[old]
        return fig

    def _bin_day(self, bin_id: str, now: float) -> tuple[BinDay, int, DayFigures]:
        date, minute = self.local(now)
        fig = self._day(date)
        bd = fig.bins.get(bin_id)
        if bd is None:
            bd = fig.bins[bin_id] = BinDay()
        return bd, minute, fig

    # -- inputs ----------------------------------------------------------------------------

    def fill(self, bin_id: str, pct: float, now: float, full: bool = False) -> list[str]:
        """A filtered fill reading in %. Returns what it concluded: ["emptied"] when the level
        confirms a bin_emptied event, ["emptied_unseen"] when the first level after a gap shows
        an emptying nobody saw (the caller tells collection supervision)."""
        lv = self._levels.get(bin_id)
        if lv is None:
            return []
        bd, minute, fig = self._bin_day(bin_id, now)
        if minute != bd.last_minute:
            bd.last_minute = minute
            bd.data_minutes += 1
            if full:
                bd.full_minutes += 1
        if lv.last_t is not None and now - lv.last_t > self.settle_s:
            lv.window.clear()  # a gap: what came before it says nothing about now
            lv.level = None
            lv.check = lv.check or "gap"
        lv.last_t = now
        lv.window.append((now, float(pct)))
        while lv.window and now - lv.window[0][0] > self.settle_s:
            lv.window.popleft()
        if len(lv.window) < MIN_READINGS or now - lv.window[0][0] < self.settle_s / 2:
            return []
        level = statistics.median(v for _t, v in lv.window)
        lv.level = level
        out: list[str] = []
        check, lv.check = lv.check, None
        while lv.recent and now - lv.recent[0][0] > self.recent_s:
            lv.recent.popleft()
        before = max([r for _t, r in lv.recent] + ([lv.ref] if lv.ref is not None else []), default=None)
        if before is None:
            if check == "event":  # nothing to check it against (just started): the sensor's word
                self._count_emptying(bin_id, now, unseen=False)
                out.append("emptied")
            lv.ref = level
        elif check and level <= before - self.drop_pct:
            self._count_emptying(bin_id, now, unseen=check == "gap")
            lv.ref = level
            lv.recent.clear()
            out.append("emptied" if check == "event" else "emptied_unseen")
        elif level >= lv.ref + self.deadband:
            bd.added_pct += level - lv.ref
            lv.ref = level
            lv.rising_until = now + self.settle_s
        elif level > lv.ref and now < lv.rising_until:  # the end of a climb
            bd.added_pct += level - lv.ref
            lv.ref = level
        elif level <= lv.ref - self.deadband:
            lv.ref = level  # settling, or an emptying on its way: followed, never counted
        if lv.ref is not None and (not lv.recent or lv.recent[-1][1] != lv.ref):
            lv.recent.append((now, lv.ref))
        return out

    def emptied(self, bin_id: str, now: float) -> None:
        """The sensor reported bin_emptied: the readings before it are forgotten, and the first
        level after it says whether the bin was emptied (`fill` then returns "emptied")."""
        lv = self._levels.get(bin_id)
        if lv is None:
            return
        lv.window.clear()
        lv.level = None
        lv.check = "event"

    def _count_emptying(self, bin_id: str, now: float, unseen: bool) -> None:
        bd, _minute, fig = self._bin_day(bin_id, now)
        bd.emptied += 1
        bd.emptied_unseen += int(unseen)
        fig.emptied_at.setdefault(bin_id, []).append(round(now, 1))

    def fault(self, bin_id: str, now: float) -> None:
        """The bin's sensor faulted: its last readings may be the fault's, not the rubbish's."""
        lv = self._levels.get(bin_id)
        if lv is not None:
            lv.window.clear()
            lv.level = None
            lv.check = lv.check or "gap"

    def camera(self, ok: bool, now: float) -> None:
        date, minute = self.local(now)
        fig = self._day(date)
        if ok and minute != fig.camera_last_minute:
            fig.camera_last_minute = minute
            fig.camera_ok_minutes += 1

    def spoken(self, now: float, n: int = 1) -> None:
        self._day(self.local(now)[0]).reminders += n

    # -- outputs ---------------------------------------------------------------------------

    def level(self, bin_id: str) -> float | None:
        """The bin's current level (the median), None while there is none (after a gap, at start)."""
        lv = self._levels.get(bin_id)
        return lv.level if lv is not None else None

    def day(self, date: str) -> DayFigures:
        """The figures of a local date (empty figures for a day the box knows nothing of)."""
        return self.days.get(date) or DayFigures(date)

    def known_days(self) -> list[str]:
        return sorted(self.days)

    def state(self) -> dict[str, Any]:
        return {"days": {d: f.as_dict() for d, f in self.days.items()}, "first_day": self.first_day,
                "bins": {b: {"ref": lv.ref, "last_t": lv.last_t} for b, lv in self._levels.items()}}


def _opt(v: Any) -> float | None:
    return None if v is None else float(v)


def dates_between(first: str, last: str) -> Iterable[str]:
    d, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    while d <= end:
        yield d.isoformat()
        d += dt.timedelta(days=1)
