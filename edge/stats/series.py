"""Per-minute history of every sensor's value (fill % of each bin, odor ppm), kept on the box.

    series = SeriesStore.from_config(cfg)          # <storage.state_dir>/series.sqlite
    series.add("bin-1-level", t, 62.5, "fill_pct") # any thread; t: epoch seconds (wall clock)
    series.flush(now)                              # writes the minutes that are over (call every few s)
    series.read("bin-1-level", since, until)       # [(t, value), ...] oldest first
    series.close()

    # another process (the console, `gedge stats --plot`) reads the same file without writing:
    with SeriesStore.open_readonly(path) as s:
        points = s.read("odor-1", now - 86400, now)

One row per sensor and minute: the mean of that minute's readings (`t` is the minute's start,
epoch seconds, a multiple of 60), with the minute's min, max and number of readings beside it
(`read_full`). `read` also gives the minute in progress (from memory) when asked through the
instance that collects it, so a live curve ends at the newest reading. Rows older than
`keep_s` (72 h by default: the last 24 h stay complete across a day and a restart) are deleted
as new minutes are written.

This history is for looking at (the console's 24-hour plots, `gedge stats --plot`), not for
counting: the day's figures come from `edge.stats.accounting`, which keeps its own state.
Written with synchronous=NORMAL: a power cut may lose the last minute or so of the curve,
never the file, and the SD card is spared an fsync a minute.
"""
from __future__ import annotations

import logging
import math
import sqlite3
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..db import open_sqlite
from ..files import STATE_FILE_MODE

log = logging.getLogger(__name__)

SERIES_FILE = "series.sqlite"
KEEP_S = 72 * 3600.0
MINUTE_S = 60

_SCHEMA = """
CREATE TABLE IF NOT EXISTS series (
    sensor TEXT NOT NULL,
    t INTEGER NOT NULL,            -- the minute's start, epoch seconds
    value REAL NOT NULL,           -- mean of the minute's readings
    vmin REAL NOT NULL,
    vmax REAL NOT NULL,
    n INTEGER NOT NULL,            -- readings in the minute
    PRIMARY KEY (sensor, t)
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS quantities (
    sensor TEXT PRIMARY KEY,
    quantity TEXT                  -- fill_pct, nh3_ppm, …
) WITHOUT ROWID;
"""


@dataclass
class _Minute:
    t: int
    total: float = 0.0
    vmin: float = math.inf
    vmax: float = -math.inf
    n: int = 0

    def add(self, v: float) -> None:
        self.total += v
        self.vmin = min(self.vmin, v)
        self.vmax = max(self.vmax, v)
        self.n += 1

    def row(self, sensor: str) -> tuple:
        return (sensor, self.t, self.total / self.n, self.vmin, self.vmax, self.n)


class SeriesStore:
    """Thread-safe: `add` from the sensor threads, `flush` and `read` from any other."""

    def __init__(self, path: str | Path, keep_s: float = KEEP_S, readonly: bool = False):
        self.path = Path(path)
        self.keep_s = float(keep_s)
        self.readonly = readonly
        self._lock = threading.Lock()
        self._open: dict[str, _Minute] = {}  # sensor -> minute in progress
        self._closed: list[tuple] = []  # rows of finished minutes not yet written
        self._quantities: dict[str, str] = {}
        self._new_quantities: dict[str, str] = {}
        if readonly:
            self._db = sqlite3.connect(self.path.resolve().as_uri() + "?mode=ro", uri=True, check_same_thread=False)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = open_sqlite(self.path, STATE_FILE_MODE)
            self._db.execute("PRAGMA synchronous=NORMAL")  # a curve, not a ledger (see the module doc)
            self._db.executescript(_SCHEMA)
            self._quantities = dict(self._db.execute("SELECT sensor, quantity FROM quantities").fetchall())

    @classmethod
    def from_config(cls, cfg, **kw: Any) -> "SeriesStore":
        return cls(default_path(cfg), **kw)

    @classmethod
    def open_readonly(cls, path: str | Path) -> "SeriesStore":
        """For another process: reads what the agent wrote; FileNotFoundError when there is none."""
        if not Path(path).is_file():
            raise FileNotFoundError(str(path))
        return cls(path, readonly=True)

    def __enter__(self) -> "SeriesStore":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    # -- writing -------------------------------------------------------------------------

    def add(self, sensor_id: str, t: float, value: float, quantity: str | None = None) -> None:
        """One reading at wall-clock time t. NaN and infinite values are not kept."""
        if value is None or not math.isfinite(value):
            return
        minute = int(t // MINUTE_S) * MINUTE_S
        with self._lock:
            cur = self._open.get(sensor_id)
            if cur is None or cur.t != minute:
                if cur is not None and cur.n:
                    self._closed.append(cur.row(sensor_id))
                cur = self._open[sensor_id] = _Minute(minute)
            cur.add(float(value))
            if quantity and self._quantities.get(sensor_id) != quantity:
                self._quantities[sensor_id] = self._new_quantities[sensor_id] = quantity

    def flush(self, now: float, final: bool = False) -> int:
        """Write the minutes that are over (all of them, the one in progress too, when `final`).
        Returns the rows written. A disk that refuses keeps them in memory for the next flush."""
        with self._lock:
            now_minute = int(now // MINUTE_S) * MINUTE_S
            for sensor, cur in list(self._open.items()):
                if cur.n and (final or cur.t < now_minute):
                    self._closed.append(cur.row(sensor))
                    del self._open[sensor]
            rows, quantities = self._closed, self._new_quantities
            if not rows and not quantities:
                return 0
            try:
                self._db.execute("BEGIN IMMEDIATE")
                # a minute written before a restart and continued after it: the two parts merge
                self._db.executemany(
                    "INSERT INTO series (sensor, t, value, vmin, vmax, n) VALUES (?, ?, ?, ?, ?, ?) "
                    "ON CONFLICT (sensor, t) DO UPDATE SET value=(value*n + excluded.value*excluded.n)/(n+excluded.n), "
                    "vmin=min(vmin, excluded.vmin), vmax=max(vmax, excluded.vmax), n=n+excluded.n", rows)
                self._db.executemany("INSERT INTO quantities (sensor, quantity) VALUES (?, ?) "
                                     "ON CONFLICT (sensor) DO UPDATE SET quantity=excluded.quantity",
                                     list(quantities.items()))
                self._db.execute("DELETE FROM series WHERE t < ?", (int(now - self.keep_s),))
                self._db.execute("COMMIT")
            except sqlite3.Error as e:
                try:
                    self._db.execute("ROLLBACK")
                except sqlite3.Error:
                    pass
                log.error("sensor history not written (%s); %d minute(s) wait in memory", e, len(rows))
                if len(rows) > 10_000:  # a disk refusing for a week must not fill the memory
                    del rows[: len(rows) - 10_000]
                return 0
            self._closed, self._new_quantities = [], {}
            return len(rows)

    # -- reading -------------------------------------------------------------------------

    def read(self, sensor_id: str, since: float, until: float) -> list[tuple[float, float]]:
        """(t, value) per minute with since <= t <= until, oldest first; t is the minute's start
        (epoch seconds), value the mean of its readings."""
        return [(t, v) for t, v, _lo, _hi, _n in self.read_full(sensor_id, since, until)]

    def read_full(self, sensor_id: str, since: float, until: float) -> list[tuple[float, float, float, float, int]]:
        """(t, mean, min, max, readings) per minute, oldest first."""
        with self._lock:
            rows = self._db.execute("SELECT t, value, vmin, vmax, n FROM series WHERE sensor=? AND t>=? AND t<=? "
                                    "ORDER BY t", (sensor_id, since, until)).fetchall()
            pending = [r for r in self._closed if r[0] == sensor_id]
            cur = self._open.get(sensor_id)
            if cur is not None and cur.n:
                pending.append(cur.row(sensor_id))
        out = {int(r[0]): (float(r[0]), float(r[1]), float(r[2]), float(r[3]), int(r[4])) for r in rows}
        for _s, t, v, lo, hi, n in pending:  # not written yet: merged as flush() would
            if not since <= t <= until:
                continue
            if t in out:
                _t, v0, lo0, hi0, n0 = out[t]
                v, lo, hi, n = (v0 * n0 + v * n) / (n0 + n), min(lo0, lo), max(hi0, hi), n0 + n
            out[t] = (float(t), v, lo, hi, n)
        return [out[t] for t in sorted(out)]

    def sensors(self) -> list[str]:
        """The sensor ids that have history."""
        with self._lock:
            ids = {r[0] for r in self._db.execute("SELECT DISTINCT sensor FROM series").fetchall()}
            ids |= set(self._open) | {r[0] for r in self._closed}
        return sorted(ids)

    def quantities(self) -> dict[str, str]:
        """sensor id -> the quantity its values are in (fill_pct, nh3_ppm, …)."""
        with self._lock:
            stored = dict(self._db.execute("SELECT sensor, quantity FROM quantities").fetchall())
            return {**stored, **self._quantities}


def default_path(cfg) -> Path:
    """`<storage.state_dir>/series.sqlite`."""
    return Path(cfg.storage.state_dir) / SERIES_FILE
