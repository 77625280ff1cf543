"""The agent's side of the statistics: feeds the pure parts, keeps their state on disk, queues
the daily documents. Called from the agent's threads; every call takes `now` (epoch seconds).

    stats = StatsService.from_config(cfg, outbox, open_incidents=outbox.open_incidents())
    stats.reading(r, now)              # every filtered sensor reading (sensor threads)
    stats.alarm(ev, now)               # every sensor alarm event (bin_emptied, sensor_fault)
    stats.spoken(now)                  # the speaker played a prompt
    events = stats.tick(now, camera_ok=True)   # the supervisor, often: collection_overdue events to route
    stats.close(now)

State (`<state_dir>/stats.json`, written atomically at most once a minute, at once after an
emptying or a queued day, and at close): the accounting (days, each bin's reference level),
collection supervision, and which days were queued. A crash loses at most a minute of
counting, and the level-based counting finds most of it again (see accounting.py).
"""
from __future__ import annotations

import json
import logging
import math
import sqlite3
import threading
from pathlib import Path
from typing import Any, Iterable

from ..files import STATE_FILE_MODE, atomic_write
from ..sensing.alarms import AlarmEvent
from .accounting import Accounting
from .daily import BinInfo, build_daily, day_start, due_dates
from .overdue import TYPE as OVERDUE, CollectionWatch
from .series import SeriesStore, default_path as series_path

log = logging.getLogger(__name__)

STATE_FILE = "stats.json"
SAVE_S = 60.0
SERIES_RETRY_S = 300.0
TICK_S = 2.0  # the accounting's own timers (camera minutes, collection deadlines) need no more


def fill_bins(cfg) -> tuple[dict[str, str], dict[str, BinInfo]]:
    """(fill sensor id -> bin id, bin id -> BinInfo) for the bins that have a fill sensor."""
    zones = {b.id: b for b in cfg.zones.bins}
    sensor_bin = {s.id: s.bin for s in cfg.sensors if s.kind == "fill" and s.bin in zones}
    bins = {b: BinInfo(zones[b].waste_type, float(zones[b].capacity_l)) for b in dict.fromkeys(sensor_bin.values())}
    return sensor_bin, bins


def state_path(cfg) -> Path:
    return Path(cfg.storage.state_dir) / STATE_FILE


def load_state(path: Path) -> dict[str, Any]:
    """The saved state, or {} when there is none or it cannot be read (logged)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}
    except (OSError, ValueError) as e:
        log.error("statistics state %s unreadable (%s); counting starts afresh", path, e)
        return {}


def accounting_from(cfg, state: dict[str, Any]) -> Accounting:
    _sensor_bin, bins = fill_bins(cfg)
    s = cfg.stats
    return Accounting({b: i.waste_type for b, i in bins.items()}, cfg.device.timezone, s.settle_s, s.deadband_pct,
                      cfg.rules.bin_emptied.drop_pct, s.daily.keep_days, state.get("accounting"),
                      within_s=cfg.rules.bin_emptied.within_s)


class StatsService:
    def __init__(self, cfg, outbox, open_incidents: Iterable[dict[str, Any]] = (), series: SeriesStore | None = None,
                 path: Path | None = None):
        self.cfg = cfg
        self.outbox = outbox
        self.path = Path(path) if path else state_path(cfg)
        self.series = series
        self.sensor_bin, self.bins = fill_bins(cfg)
        self._quantity_sensor = {s.id: s for s in cfg.sensors}
        state = load_state(self.path)
        self.acc = accounting_from(cfg, state)
        subjects = {b: {"zone": None, "bin_id": b, "sensor_id": sid} for sid, b in self.sensor_bin.items()}
        open_bins = [d["subject"].get("bin_id") for d in open_incidents if d.get("type") == OVERDUE]
        self.watch = CollectionWatch(cfg.stats.collection, cfg.device.timezone, subjects, open_bins,
                                     state.get("collection"))
        self.queued: set[str] = set(state.get("queued") or [])
        self._lock = threading.Lock()
        self._events: list[AlarmEvent] = []
        self._dirty = False
        self._last_save = -math.inf
        self.save_s = SAVE_S  # a replay of a simulated day saves less often (each save is two fsyncs)
        self._series_path: Path | None = None
        self._series_tried = -math.inf
        self._last_tick = -math.inf

    @classmethod
    def from_config(cls, cfg, outbox, open_incidents: Iterable[dict[str, Any]] = ()) -> "StatsService":
        service = cls(cfg, outbox, open_incidents, None)
        service._series_path = series_path(cfg)
        service._open_series(0.0)
        return service

    def _open_series(self, now: float) -> None:
        """The history is a nicety: a disk that cannot take it (full at start) must not stop the
        agent; it is tried again every SERIES_RETRY_S."""
        if self.series is not None or self._series_path is None or now - self._series_tried < SERIES_RETRY_S:
            return
        self._series_tried = now
        try:
            self.series = SeriesStore(self._series_path)
        except (sqlite3.Error, OSError) as e:
            log.error("sensor history %s not available (%s); counting goes on without it", self._series_path, e)

    # -- inputs (any thread) ---------------------------------------------------------------

    def reading(self, r, now: float) -> None:
        """A filtered reading (edge.sensing.alarms.Reading). Values a filter made on its own
        (raw None) and readings of a faulted sensor are left out of history and counting."""
        if r.value is None or r.raw is None or r.state == "fault" or not math.isfinite(r.value):
            return
        if self.series is not None:
            self.series.add(r.sensor_id, now, r.value, r.quantity)
        bin_id = self.sensor_bin.get(r.sensor_id)
        if bin_id is None or r.quantity != "fill_pct":
            return
        with self._lock:
            if self.acc.fill(bin_id, r.value, now, full=r.state == "full"):  # an emptying, confirmed
                self._events += self.watch.emptied(bin_id, now)
                self._dirty = True

    def alarm(self, ev, now: float) -> None:
        bin_id = self.sensor_bin.get(ev.subject.get("sensor_id"))
        if bin_id is None:
            return
        with self._lock:
            if ev.type == "bin_emptied":  # counted once the level confirms it (see accounting.py)
                self.acc.emptied(bin_id, now)
            elif ev.type == "sensor_fault" and ev.action == "open":
                self.acc.fault(bin_id, now)

    def spoken(self, now: float) -> None:
        with self._lock:
            self.acc.spoken(now)

    # -- the supervisor's tick -------------------------------------------------------------

    def tick(self, now: float, camera_ok: bool) -> list[AlarmEvent]:
        """Timers: camera minutes, collection deadlines, history, state, daily documents due.
        Returns the collection_overdue events for the router."""
        with self._lock:
            events, self._events = self._events, []
            if now - self._last_tick < TICK_S:
                return events
            self._last_tick = now
            self.acc.camera(camera_ok, now)
            new = self.watch.tick(now, {b: self.acc.level(b) for b in self.bins})
            events += new
            dirty = self._dirty or bool(new)
        self._open_series(now)
        if self.series is not None:
            self.series.flush(now)
        queued = self._queue_due_days(now)
        if dirty or queued or now - self._last_save >= self.save_s:
            self.save(now)
        return events

    def _queue_due_days(self, now: float) -> bool:
        s = self.cfg.stats.daily
        with self._lock:
            dates = due_dates(now, self.cfg.device.timezone, s.send_time(), self.acc.first_day, self.queued, s.keep_days)
        if not dates:
            return False
        incidents = self.outbox.incidents_since(day_start(dates[0], self.cfg.device.timezone))
        done = False
        for date in dates:
            with self._lock:
                doc = build_daily(self.cfg.device.id, date, self.acc.day(date), self.bins,
                                  self.cfg.stats.densities_kg_per_l, incidents, self.cfg.device.timezone)
            try:
                n = self.outbox.enqueue_daily(doc)
            except OSError as e:  # the disk refuses: the day stays due and goes later
                log.warning("daily statistics of %s not queued yet (%s)", date, e)
                break
            log.info("daily statistics of %s queued for %d destination(s): %s", date, n,
                     ", ".join(f"{b} {v['added_l']} L" for b, v in doc["bins"].items()) or "no bins")
            with self._lock:
                self.queued.add(date)
            done = True
        return done

    def document(self, date: str) -> dict[str, Any]:
        """The daily document of a date as it stands now (`gedge stats`, tests)."""
        incidents = self.outbox.incidents_since(day_start(date, self.cfg.device.timezone)) if self.outbox else []
        with self._lock:
            return build_daily(self.cfg.device.id, date, self.acc.day(date), self.bins,
                               self.cfg.stats.densities_kg_per_l, incidents, self.cfg.device.timezone)

    # -- state -----------------------------------------------------------------------------

    def state(self) -> dict[str, Any]:
        with self._lock:
            keep = sorted(self.queued)[-(self.cfg.stats.daily.keep_days + 2):]
            return {"schema": "garbage-edge/stats-state@1", "accounting": self.acc.state(),
                    "collection": self.watch.state(), "queued": keep}

    def save(self, now: float) -> None:
        body = json.dumps(self.state(), ensure_ascii=False, separators=(",", ":"))
        try:
            atomic_write(self.path, body, mode=STATE_FILE_MODE)
        except OSError as e:  # a full disk: the counting goes on in memory, saved when it can be
            log.error("statistics state not saved (%s)", e)
            return
        self._dirty = False
        self._last_save = now

    def close(self, now: float) -> None:
        """History and state to disk (again is harmless)."""
        if self.series is not None:
            self.series.flush(now, final=True)
            self.series.close()
            self.series = None
        self._series_path = None  # closed for good: not reopened
        self.save(now)
