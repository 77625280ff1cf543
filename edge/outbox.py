"""The durable outbox: what waits on disk until the platform has it.

SQLite in WAL mode with `synchronous=FULL`: an enqueue that returned is on disk and survives
`kill -9` and power loss. Delivery is at-least-once: an item leaves the queue only after the
platform accepted it, so a crash between "sent" and "marked" sends it again (the platform
deduplicates by `(id, rev)`).

    outbox = Outbox(state_dir / "outbox.sqlite", dests=("http",))   # one queue per transport
    outbox.enqueue_incident(doc)            # idempotent by (id, rev); older revs are ignored
    outbox.enqueue_telemetry(doc)           # bounded, newest wins
    book = IncidentBook.from_config(cfg, restore=outbox.open_incidents())

Tables:
- `queue`: incidents and snapshot uploads, one row per destination, sent in `seq` order
  (so the revisions of an incident go out in the order they were made, and a snapshot
  after the incident revision that introduced it).
- `incidents`: the newest enqueued revision of every incident (restores the IncidentBook
  after a restart; written in the same transaction as the queue rows).
- `dead`: permanent failures (4xx other than 408/409/429) with status and response body;
  `gedge outbox dead` shows them, `retry` puts them back, `purge` deletes them. Incidents are
  kept until purged; dead telemetry only the newest `telemetry_backlog` per destination.
- `telemetry`: latest-value documents, at most `telemetry_backlog` per destination.
- `meta`: counters and the last success / error per destination.

When the disk refuses a write (full, read-only, I/O error) nothing raises and nothing is lost:
the revisions wait in memory in order (at most HELD_MAX; see `_drop_one_held` for the overflow
rule), `pending()` hands them to the uplink after what is on disk, every later write (and
`flush()`) tries to write them first, and `storage_error` says why until the disk takes them.
A damaged file (bad header, truncated, a zeroed page, not a database) is found by an integrity
check at open and by `check()`; it is moved aside with a time stamp and a fresh file started
(`recovered` says so), or, while running, `damaged` is set until `replace_damaged()`.
"""
from __future__ import annotations

import datetime as dt
import json
import logging
import os
import sqlite3
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterable

from .db import open_sqlite
from .files import STATE_FILE_MODE, atomic_write

log = logging.getLogger(__name__)

OUTBOX_FILE = "outbox.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS queue (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    kind TEXT NOT NULL,            -- incident | snapshot
    incident_id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    body BLOB,                     -- incident JSON; for a snapshot, its sha256
    created REAL NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    last_error TEXT
);
CREATE INDEX IF NOT EXISTS queue_dest ON queue (dest, seq);
CREATE TABLE IF NOT EXISTS incidents (  -- newest revision of each incident: restore + idempotency
    id TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    state TEXT NOT NULL,
    snapshot TEXT,                 -- sha256 of its picture, if any
    doc TEXT NOT NULL,
    updated REAL NOT NULL
) WITHOUT ROWID;
CREATE TABLE IF NOT EXISTS dead (
    seq INTEGER PRIMARY KEY,
    dest TEXT NOT NULL,
    kind TEXT NOT NULL,
    incident_id TEXT,
    rev INTEGER,
    body BLOB,
    created REAL NOT NULL,
    attempts INTEGER NOT NULL,
    status INTEGER,
    response TEXT,
    failed_at REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    dest TEXT NOT NULL,
    body BLOB NOT NULL,
    created REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS meta (
    key TEXT PRIMARY KEY,
    value TEXT
);
"""

RESPONSE_KEEP = 2000  # characters of a dead letter's response body kept
# Revisions that could not be written (disk full, read-only) wait in memory, in order, at most
# this many (about 1 KB each). Beyond it the oldest waiting revision that a newer waiting
# revision of the same incident supersedes is dropped first, else the oldest one (counted).
HELD_MAX = 2000
# Where the revisions sent from memory are noted while the disk refuses them: the service's
# runtime directory (tmpfs, kept across a restart of the service), so an agent killed during
# a fault continues from what the platform already has instead of below it.
SENT_FROM_MEMORY = "sent-from-memory.json"
# While the disk refuses writes, the file is also opened afresh this often: a card that was
# checked and mounted again at the same place is then written to without a restart.
REOPEN_S = 5.0
# What SQLite says when the disk refuses a write: wait and write again later. Anything else
# (a malformed or foreign file) is damage.
_STORAGE_ERRORS = ("database or disk is full", "readonly database", "disk i/o error", "unable to open database",
                   "read-only file system", "no space left")


class OutboxDamaged(Exception):
    """The outbox file is not a sound SQLite database (bad header, truncated, zeroed page)."""


def is_storage_error(e: BaseException) -> bool:
    """True when a write failed because the disk refused it (full, read-only, I/O error)."""
    if isinstance(e, OSError):
        return True
    if isinstance(e, sqlite3.OperationalError):
        text = str(e).lower()
        return any(m in text for m in _STORAGE_ERRORS)
    return False


def is_damage(e: BaseException) -> bool:
    return isinstance(e, sqlite3.DatabaseError) and not isinstance(e, sqlite3.OperationalError)


@dataclass
class _Held:
    """One revision that the disk did not take yet; the uplink may already send it from memory."""

    seq: int  # negative: never a stored row's seq
    prepared: tuple
    new_picture: bool
    created: float
    done: set = field(default_factory=set)  # (dest, kind) already delivered (or dead-lettered)


@dataclass(frozen=True)
class Item:
    seq: int
    dest: str
    kind: str  # incident | snapshot | telemetry
    incident_id: str | None
    rev: int | None
    body: bytes
    created: float
    attempts: int = 0

    @property
    def label(self) -> str:
        if self.kind == "telemetry":
            return f"telemetry #{self.seq}"
        return f"{self.kind} {self.incident_id} rev {self.rev}"


class Outbox:
    """Thread-safe; one connection guarded by a lock (writes are serialised by SQLite anyway)."""

    def __init__(self, path: str | Path, dests: Iterable[str] = ("http",), telemetry_backlog: int = 100,
                 clock: Callable[[], float] = time.time, recover: bool = True, held_max: int = HELD_MAX,
                 memory_note: str | Path | None = None):
        self.path = Path(path)
        self.dests = tuple(dests)
        self.telemetry_backlog = int(telemetry_backlog)
        self.held_max = int(held_max)
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._gc = threading.Condition()  # group commit of concurrent enqueues
        self._gc_waiting: list[_Pending] = []
        self._gc_busy = False
        self._held: deque[_Held] = deque()
        self._held_seq = 0
        self._held_tele: dict[str, tuple[int, bytes, float]] = {}  # dest -> newest unwritten telemetry
        self._held_dead: list[tuple] = []  # dead letters of held items, written with them
        self._undeleted: set[tuple[str, int]] = set()  # delivered, but the DELETE was refused
        self.held_dropped = 0
        self.reopen_s = REOPEN_S
        self._last_reopen = time.monotonic()
        self.storage_error: str | None = None  # why the disk refuses writes now (None: it takes them)
        self.damaged: str | None = None  # set when the file turns out damaged while open
        self.recovered: str | None = None  # what was done about a damaged file at open
        self.salvaged: list[dict[str, Any]] = []  # open incidents read back from a damaged file
        self._exclusive = False  # opened without its -shm index: the disk had no room for one
        self.memory_note = Path(memory_note) if memory_note else None
        self._sent_unstored: dict[str, bytes] = {}  # incident id -> newest revision sent from memory
        self.path.parent.mkdir(parents=True, exist_ok=True)
        try:
            self._db = self._open_checked()
        except OutboxDamaged as e:
            if not recover:
                raise
            self._db = self._move_aside_and_start_fresh(str(e))
        except OSError as e:
            # a full disk at start: read what it holds (the open incidents) without the index,
            # keep new revisions in memory, and open it properly once there is room
            if not self.path.exists():
                raise
            self._db = self._open_checked(exclusive=True)
            self._exclusive = True
            self.storage_error = str(e).rsplit(": ", 1)[-1]
            log.error("outbox %s opened without its index (%s); revisions wait in memory", self.path, e)
        self._take_memory_note()

    def _take_memory_note(self) -> None:
        """Revisions the last run sent from memory but never stored: stored now (queued again;
        the platform answers 409 for what it holds), so the book restores the newest state."""
        if self.memory_note is None or not self.memory_note.is_file():
            return
        try:
            docs = list(json.loads(self.memory_note.read_text(encoding="utf-8")).values())
        except (OSError, ValueError) as e:
            log.error("cannot read %s: %s", self.memory_note, e)
            docs = []
        if docs:
            log.warning("outbox: %d revision(s) the last run sent but could not store are stored now", len(docs))
            self.enqueue_many(docs)
        if self._held:  # the disk still refuses: the note keeps them until it takes them
            self._sent_unstored.update((d["id"], _prepare(d)[4]) for d in docs)
        else:
            self.memory_note.unlink(missing_ok=True)

    def _note_sent_from_memory(self, held: "_Held") -> None:
        if self.memory_note is None:
            return
        self._sent_unstored[held.prepared[0]] = held.prepared[4]
        body = "{" + ",".join(f"{json.dumps(i)}:{b.decode()}" for i, b in self._sent_unstored.items()) + "}"
        try:
            atomic_write(self.memory_note, body, mode=STATE_FILE_MODE)
        except OSError as e:
            log.error("cannot note what was sent from memory in %s: %s", self.memory_note, e)

    def _open_checked(self, exclusive: bool = False) -> sqlite3.Connection:
        try:
            db = open_sqlite(self.path, STATE_FILE_MODE, exclusive=exclusive)
        except sqlite3.DatabaseError as e:
            if is_damage(e):
                raise OutboxDamaged(f"{self.path.name}: {e}") from None
            raise OSError(f"cannot open the outbox {self.path}: {e}") from None
        try:
            problem = _integrity(db)
            if problem:
                raise OutboxDamaged(f"{self.path.name}: {problem}")
            db.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS)
        except sqlite3.DatabaseError as e:
            db.close()
            if is_damage(e):
                raise OutboxDamaged(f"{self.path.name}: {e}") from None
            raise OSError(f"cannot open the outbox {self.path}: {e}") from None
        except BaseException:
            db.close()
            raise
        return db

    def _move_aside_and_start_fresh(self, problem: str) -> sqlite3.Connection:
        """Keep the damaged file for inspection (`outbox.sqlite.damaged-<UTC time>`), read back
        what open incidents it still gives, and start an empty outbox."""
        stamp = dt.datetime.now(dt.timezone.utc).strftime("%Y%m%dT%H%M%SZ")
        aside = self.path.with_name(f"{self.path.name}.damaged-{stamp}")
        os.replace(self.path, aside)
        for suffix in ("-wal", "-shm", "-journal"):
            side = self.path.with_name(self.path.name + suffix)
            if side.exists():
                os.replace(side, aside.with_name(aside.name + suffix))
        self.salvaged = _salvage_open_incidents(aside)
        self.recovered = (f"{problem}; moved aside to {aside.name} and started a fresh outbox"
                          + (f" ({len(self.salvaged)} open incident(s) read back)" if self.salvaged else ""))
        log.error("outbox damaged: %s", self.recovered)
        db = self._open_checked()
        if self.salvaged:
            self._db = db
            self.enqueue_many(self.salvaged)  # the platform may hold them already: (id, rev) dedup
        return db

    def replace_damaged(self, keep: Iterable[dict[str, Any]] = ()) -> str:
        """While running: move the damaged file aside, start a fresh one, write what waits in
        memory and `keep` (the open incidents' newest revisions, so a restart restores them).
        Returns what was done, for the platform's storage_fault."""
        with self._lock:
            problem = self.damaged or "damaged"
            try:
                self._db.close()
            except sqlite3.Error:
                pass
            self._db = self._move_aside_and_start_fresh(problem)
            self.damaged = None
            self._undeleted.clear()  # those rows went with the old file
            self._flush_locked()
        keep = list(keep)
        if keep:
            self.enqueue_many(keep)
        return self.recovered or problem

    @staticmethod
    def inspect(path: str | Path) -> str | None:
        """Without changing anything: None when the file is a sound outbox, else what is wrong."""
        try:
            db = sqlite3.connect(_read_only_uri(path), uri=True)
        except sqlite3.DatabaseError as e:
            return str(e)
        try:
            return _integrity(db)
        except sqlite3.DatabaseError as e:
            return str(e)
        finally:
            db.close()

    def check(self) -> str | None:
        """The integrity check the agent runs from time to time: None when sound. A damaged file
        sets `damaged`, and the uplink then stops (and with it the watchdog: a restart moves the
        file aside)."""
        with self._lock:
            try:
                problem = _integrity(self._db)
            except sqlite3.DatabaseError as e:
                if not is_damage(e):
                    return None  # the disk, not the file: storage_error says so
                problem = str(e)
        if problem:
            self._mark_damaged(problem)
        return problem

    def _mark_damaged(self, problem: str) -> None:
        if self.damaged is None:
            log.error("outbox %s is damaged: %s", self.path, problem)
        self.damaged = problem

    @classmethod
    def from_config(cls, cfg, path: str | Path | None = None) -> "Outbox":
        dests = [name for name, on in (("http", cfg.uplink.http.enabled), ("mqtt", cfg.uplink.mqtt.enabled)) if on]
        runtime = os.environ.get("RUNTIME_DIRECTORY")  # systemd's RuntimeDirectory= (tmpfs)
        note = Path(runtime.split(":")[0]) / SENT_FROM_MEMORY if runtime else None
        return cls(path or default_path(cfg), dests=dests, telemetry_backlog=cfg.uplink.telemetry_backlog,
                   memory_note=note)

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def add_listener(self, fn: Callable[[], None]) -> None:
        """Called after every enqueue (the uplink's wake())."""
        self._listeners.append(fn)

    # -- writing -------------------------------------------------------------------------

    def enqueue_incident(self, doc: dict[str, Any]) -> bool:
        """Durably queue one incident revision (and its snapshot upload when the revision
        brings a new picture). False when this or a newer revision was queued before."""
        added = self.enqueue_many([doc])
        return added == 1

    def enqueue_many(self, docs: Iterable[dict[str, Any]]) -> int:
        """Several revisions in one transaction (one fsync). Returns how many were new.

        Group commit: while one caller's transaction is being fsync'd, the revisions other
        threads enqueue meanwhile wait and then go to disk together in the next transaction,
        so the vision, sensor and runtime threads share fsyncs. A call returns only once its
        own revisions are committed."""
        entry = _Pending([_prepare(doc) for doc in docs])  # bad documents fail here, in the caller
        with self._gc:
            self._gc_waiting.append(entry)
            while not entry.done:
                if self._gc_busy:
                    self._gc.wait()
                    continue
                self._gc_busy = True
                batch, self._gc_waiting = self._gc_waiting, []
                self._gc.release()
                try:
                    self._commit_batch(batch)
                finally:
                    self._gc.acquire()
                    self._gc_busy = False
                    self._gc.notify_all()
        if entry.error is not None:
            raise entry.error
        if entry.added:
            self._notify()
        return entry.added

    def _commit_batch(self, batch: list["_Pending"]) -> None:
        now = self._clock()
        try:
            with self._lock:
                if self._held and not self._flush_locked():
                    for entry in batch:  # after what already waits: order is kept
                        entry.added = sum(self._hold(doc, now) for doc in entry.docs)
                else:
                    try:
                        with self._tx():
                            for entry in batch:
                                entry.added = sum(self._enqueue_one(doc, now) for doc in entry.docs)
                    except BaseException as e:
                        if not self._storage_refused(e):
                            raise
                        for entry in batch:
                            entry.added = sum(self._hold(doc, now) for doc in entry.docs)
        except BaseException as e:  # nothing of this batch is on disk: every caller hears so
            for entry in batch:
                entry.added, entry.error = 0, e
        for entry in batch:
            entry.done = True

    def _storage_refused(self, e: BaseException) -> bool:
        """Note why the disk refused a write; False when the error is something else."""
        if is_damage(e):  # held like a refused write until the file is replaced
            self._mark_damaged(str(e))
            return True
        if not is_storage_error(e):
            return False
        if self.storage_error is None:
            log.error("outbox %s: the disk refuses writes (%s); revisions wait in memory", self.path, e)
        self.storage_error = str(e)
        return True

    def _stored_rev(self, iid: str) -> tuple[int, str | None]:
        """(newest revision, its picture) of an incident: held in memory first, then on disk."""
        for held in reversed(self._held):
            if held.prepared[0] == iid:
                return held.prepared[1], held.prepared[3]
        try:
            row = self._db.execute("SELECT rev, snapshot FROM incidents WHERE id=?", (iid,)).fetchone()
        except sqlite3.DatabaseError:
            row = None  # unreadable too: the platform deduplicates by (id, rev)
        return (row[0], row[1]) if row else (0, None)

    def _hold(self, prepared: tuple, now: float) -> int:
        iid, rev, _state, sha, _body = prepared
        stored_rev, prev_sha = self._stored_rev(iid)
        if stored_rev >= rev:
            return 0
        if len(self._held) >= self.held_max:
            self._drop_one_held()
        self._held_seq -= 1
        self._held.append(_Held(self._held_seq, prepared, bool(sha and sha != prev_sha), now))
        return 1

    def _drop_one_held(self) -> None:
        seen: set[str] = set()
        victim = None
        for held in reversed(self._held):  # the oldest superseded revision: a newer one goes instead
            if held.prepared[0] in seen:
                victim = held
            seen.add(held.prepared[0])
        victim = victim or self._held[0]
        self._held.remove(victim)
        self.held_dropped += 1
        log.error("outbox: %d revisions wait in memory; dropped %s rev %d", self.held_max, victim.prepared[0],
                  victim.prepared[1])

    def _flush_locked(self) -> bool:
        """Write what waits in memory (revisions, deletions, dead letters, telemetry) in one
        transaction. True when nothing waits any more."""
        if not (self._held or self._undeleted or self._held_dead or self._held_tele or self.storage_error):
            return True
        try:
            with self._tx():
                if self.storage_error:  # nothing else may wait: prove the disk takes a write again
                    self._set("storage_probe", repr(self._clock()))
                for table, seq in self._undeleted:
                    self._db.execute(f"DELETE FROM {table} WHERE seq=?", (seq,))
                for row in self._held_dead:
                    self._db.execute(
                        "INSERT INTO dead (dest, kind, incident_id, rev, body, created, attempts, status, response, "
                        "failed_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", row)
                for held in self._held:
                    self._enqueue_one(held.prepared, held.created, skip=held.done)
                for dest, (_seq, body, created) in self._held_tele.items():
                    self._db.execute("INSERT INTO telemetry (dest, body, created) VALUES (?, ?, ?)", (dest, body, created))
        except BaseException as e:
            if not self._storage_refused(e):
                raise
            return False
        written = len(self._held)
        if self._sent_unstored and self.memory_note is not None:
            self._sent_unstored.clear()
            self.memory_note.unlink(missing_ok=True)
        self._held.clear()
        self._undeleted.clear()
        self._held_dead.clear()
        self._held_tele.clear()
        if self.storage_error is not None:
            log.warning("outbox %s: the disk takes writes again; %d waiting revision(s) written", self.path, written)
        self.storage_error = None
        return True

    def flush(self) -> bool:
        """Try to write what waits in memory now (the agent calls this every tick while anything
        waits). True when nothing waits any more."""
        with self._lock:
            ok = self._flush_locked()
            if not ok and time.monotonic() - self._last_reopen >= self.reopen_s:
                self._last_reopen = time.monotonic()
                if self._reopen():
                    ok = self._flush_locked()
        return ok

    def _reopen(self) -> bool:
        """Open the file afresh (the old connection stays until a new one works; an exclusive one
        is closed first, as it would lock the new one out)."""
        if self._exclusive:
            self._db.close()
        try:
            db = self._open_checked()
        except (OSError, OutboxDamaged, sqlite3.DatabaseError) as e:
            log.debug("outbox %s: cannot open afresh yet: %s", self.path, e)
            if self._exclusive:
                try:
                    self._db = self._open_checked(exclusive=True)
                except (OSError, OutboxDamaged, sqlite3.DatabaseError):
                    log.exception("outbox %s: cannot open it again", self.path)
            return False
        if self._exclusive:
            self._exclusive = False
            self._db = db
            log.info("outbox %s opened afresh", self.path)
            return True
        old, self._db = self._db, db
        try:
            old.close()
        except sqlite3.Error:
            pass
        log.info("outbox %s opened afresh", self.path)
        return True

    def _enqueue_one(self, prepared: tuple, now: float, skip: set = frozenset()) -> int:
        iid, rev, state, sha, body = prepared
        row = self._db.execute("SELECT rev, snapshot FROM incidents WHERE id=?", (iid,)).fetchone()
        if row is not None and row[0] >= rev:
            return 0  # idempotent by (id, rev): this or a newer revision is already queued
        prev_sha = row[1] if row else None
        for dest in self.dests:
            if (dest, "incident") not in skip:
                self._db.execute(
                    "INSERT INTO queue (dest, kind, incident_id, rev, body, created) VALUES (?, 'incident', ?, ?, ?, ?)",
                    (dest, iid, rev, body, now),
                )
            if sha and sha != prev_sha and (dest, "snapshot") not in skip:  # a new picture: its upload follows
                self._db.execute(
                    "INSERT INTO queue (dest, kind, incident_id, rev, body, created) VALUES (?, 'snapshot', ?, ?, ?, ?)",
                    (dest, iid, rev, sha.encode(), now),
                )
        self._db.execute(
            "INSERT INTO incidents (id, rev, state, snapshot, doc, updated) VALUES (?, ?, ?, ?, ?, ?) "
            "ON CONFLICT (id) DO UPDATE SET rev=excluded.rev, state=excluded.state, snapshot=excluded.snapshot, "
            "doc=excluded.doc, updated=excluded.updated",
            (iid, rev, state, sha, body.decode(), now),
        )
        return 1

    def enqueue_telemetry(self, doc: dict[str, Any]) -> None:
        """Latest-value data: keeps at most `telemetry_backlog` per destination, newest win.
        While the disk refuses writes, the newest document per destination waits in memory."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        now = self._clock()
        with self._lock:
            if not (self._held or self._held_tele):
                try:
                    with self._tx():
                        for dest in self.dests:
                            self._db.execute("INSERT INTO telemetry (dest, body, created) VALUES (?, ?, ?)",
                                             (dest, body, now))
                            self._db.execute(
                                "DELETE FROM telemetry WHERE dest=? AND seq NOT IN "
                                "(SELECT seq FROM telemetry WHERE dest=? ORDER BY seq DESC LIMIT ?)",
                                (dest, dest, self.telemetry_backlog),
                            )
                except BaseException as e:
                    if not self._storage_refused(e):
                        raise
                else:
                    self._notify()
                    return
            for dest in self.dests:
                self._held_seq -= 1
                self._held_tele[dest] = (self._held_seq, body, now)
        self._notify()

    def enqueue_daily(self, doc: dict[str, Any]) -> int:
        """Durably queue one daily statistics document (`POST /v1/daily`, HTTP only: the contract
        gives it no MQTT topic), in order after what is queued. Returns the destinations it was
        queued for. Raises OSError while the disk refuses writes: the caller tries again later
        (a day is kept on the box, not in memory here)."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        key = f"daily:{doc['date']}"
        dests = [d for d in self.dests if d == "http"]
        now = self._clock()
        with self._lock:
            if self._held or self.storage_error or self.damaged:
                raise OSError(f"outbox refuses writes ({self.storage_error or self.damaged or 'revisions held'})")
            try:
                with self._tx():
                    for dest in dests:
                        self._db.execute("INSERT INTO queue (dest, kind, incident_id, rev, body, created) "
                                         "VALUES (?, 'daily', ?, 1, ?, ?)", (dest, key, body, now))
            except BaseException as e:
                if self._storage_refused(e):
                    raise OSError(f"outbox refuses writes ({self.storage_error or e})") from None
                raise
        if dests:
            self._notify()
        return len(dests)

    def incidents_since(self, t: float) -> list[dict[str, Any]]:
        """Newest revision of every incident last changed at or after epoch time t (the daily counts)."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM incidents WHERE updated >= ?", (t,)).fetchall()
        return [json.loads(r[0]) for r in rows]

    def held(self) -> int:
        """Revisions waiting in memory for the disk."""
        with self._lock:
            return len(self._held)

    # -- the uplink's side ---------------------------------------------------------------

    def pending(self, dest: str, limit: int = 64) -> list[Item]:
        """The oldest queued incidents / snapshots for this destination, in order: what is on
        disk first, then what waits in memory (always newer). Raises OutboxDamaged when the
        file cannot be read."""
        with self._lock:
            if self.damaged:
                raise OutboxDamaged(self.damaged)
            try:
                rows = self._db.execute(
                    "SELECT seq, dest, kind, incident_id, rev, body, created, attempts FROM queue "
                    "WHERE dest=? ORDER BY seq LIMIT ?",
                    (dest, limit + len(self._undeleted)),
                ).fetchall()
            except sqlite3.DatabaseError as e:
                if is_damage(e):
                    self._mark_damaged(str(e))
                    raise OutboxDamaged(str(e)) from None
                raise
            items = [Item(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7]) for r in rows
                     if ("queue", r[0]) not in self._undeleted][:limit]
            if len(items) < limit or not rows:
                for held in self._held:
                    iid, rev, _state, sha, body = held.prepared
                    if (dest, "incident") not in held.done:
                        items.append(Item(held.seq * 2, dest, "incident", iid, rev, body, held.created))
                    if held.new_picture and (dest, "snapshot") not in held.done:
                        items.append(Item(held.seq * 2 - 1, dest, "snapshot", iid, rev, sha.encode(), held.created))
        return items[:limit]

    def next_telemetry(self, dest: str) -> Item | None:
        """The newest telemetry document waiting for this destination (latest value first)."""
        with self._lock:
            held = self._held_tele.get(dest)
            if held is not None:
                return Item(held[0], dest, "telemetry", None, None, held[1], held[2])
            rows = self._db.execute(
                "SELECT seq, dest, body, created FROM telemetry WHERE dest=? ORDER BY seq DESC LIMIT ?",
                (dest, 1 + len(self._undeleted)),
            ).fetchall()
        for r in rows:
            if ("telemetry", r[0]) not in self._undeleted:
                return Item(r[0], r[1], "telemetry", None, None, bytes(r[2]), r[3])
        return None

    def _forget_held(self, item: Item) -> bool:
        """An item sent from memory was delivered (or dead-lettered): note it. False: a stored row."""
        if item.seq >= 0:
            return False
        if item.kind == "telemetry":
            if self._held_tele.get(item.dest, (None,))[0] == item.seq:
                del self._held_tele[item.dest]
            return True
        for held in self._held:
            if held.prepared[0] == item.incident_id and held.prepared[1] == item.rev:
                held.done.add((item.dest, item.kind))
                if item.kind == "incident":
                    self._note_sent_from_memory(held)
        return True

    def delivered(self, items: Iterable[Item]) -> None:
        """Remove delivered items (one transaction for a batch). When the disk refuses the
        deletion, it waits in memory and the items are not handed out again."""
        items = list(items)
        if not items:
            return
        now = self._clock()
        with self._lock:
            stored = [it for it in items if not self._forget_held(it)]
            if not stored:
                return
            try:
                with self._tx():
                    for it in stored:
                        table = "telemetry" if it.kind == "telemetry" else "queue"
                        self._db.execute(f"DELETE FROM {table} WHERE seq=?", (it.seq,))
                    dests = {it.dest for it in stored}
                    for dest in dests:
                        n = sum(1 for it in stored if it.dest == dest)
                        self._bump(f"delivered.{dest}", n)
                        self._set(f"last_ok.{dest}", repr(now))
            except BaseException as e:
                if not self._storage_refused(e):
                    raise
                self._undeleted.update(("telemetry" if it.kind == "telemetry" else "queue", it.seq) for it in stored)

    def failed(self, item: Item, error: str) -> None:
        """A temporary failure: the item stays queued; attempts and the error are noted (when the
        disk takes the note)."""
        now = self._clock()
        if item.seq < 0:
            return
        with self._lock:
            try:
                with self._tx():
                    if item.kind != "telemetry":
                        self._db.execute("UPDATE queue SET attempts=attempts+1, last_error=? WHERE seq=?",
                                         (error[:500], item.seq))
                    self._set(f"last_error.{item.dest}", json.dumps({"at": now, "error": error[:500]}))
            except BaseException as e:
                if not self._storage_refused(e):
                    raise

    def dead_letter(self, item: Item, status: int | None, response: str) -> None:
        """A permanent failure: moved to the dead-letter list with the status and response body."""
        now = self._clock()
        with self._lock:
            if item.seq < 0 or ("queue", item.seq) in self._undeleted:
                self._forget_held(item)
                self._held_dead.append((item.dest, item.kind, item.incident_id, item.rev, item.body, item.created,
                                        item.attempts + 1, status, (response or "")[:RESPONSE_KEEP], now))
                log.warning("dead-lettered %s for %s: status %s", item.label, item.dest, status)
                return
            try:
                self._dead_letter_stored(item, status, response, now)
            except BaseException as e:
                if not self._storage_refused(e):
                    raise
                self._undeleted.add(("telemetry" if item.kind == "telemetry" else "queue", item.seq))
                self._held_dead.append((item.dest, item.kind, item.incident_id, item.rev, item.body, item.created,
                                        item.attempts + 1, status, (response or "")[:RESPONSE_KEEP], now))
        log.warning("dead-lettered %s for %s: status %s", item.label, item.dest, status)

    def _dead_letter_stored(self, item: Item, status: int | None, response: str, now: float) -> None:
        with self._tx():
            attempts = 0
            if item.kind != "telemetry":
                row = self._db.execute("SELECT attempts FROM queue WHERE seq=?", (item.seq,)).fetchone()
                attempts = row[0] if row else item.attempts
            table = "telemetry" if item.kind == "telemetry" else "queue"
            cur = self._db.execute(f"DELETE FROM {table} WHERE seq=?", (item.seq,))
            if cur.rowcount == 0:
                return
            self._db.execute(
                "INSERT INTO dead (dest, kind, incident_id, rev, body, created, attempts, status, response, failed_at) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (item.dest, item.kind, item.incident_id, item.rev, item.body, item.created, attempts + 1,
                 status, (response or "")[:RESPONSE_KEEP], now),
            )
            if item.kind == "telemetry":
                # latest-value data stays bounded here too: a revoked token must not fill the disk
                # with a dead telemetry document a minute (incidents are always kept)
                cur = self._db.execute(
                    "DELETE FROM dead WHERE dest=? AND kind='telemetry' AND seq NOT IN "
                    "(SELECT seq FROM dead WHERE dest=? AND kind='telemetry' ORDER BY seq DESC LIMIT ?)",
                    (item.dest, item.dest, self.telemetry_backlog),
                )
                if cur.rowcount > 0:
                    self._bump(f"dead_telemetry_dropped.{item.dest}", cur.rowcount)
            self._set(f"last_error.{item.dest}", json.dumps({"at": now, "error": f"HTTP {status}: dead-lettered {item.label}"}))

    # -- inspection and maintenance (gedge outbox) ----------------------------------------

    def open_incidents(self) -> list[dict[str, Any]]:
        """Newest revision of every incident still open (to restore the IncidentBook)."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM incidents WHERE state='open'").fetchall()
        return [json.loads(r[0]) for r in rows]

    def resolved_incidents(self, limit: int = 20) -> list[dict[str, Any]]:
        """Newest revision of the last `limit` resolved incidents, oldest first (the console's list)."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM incidents WHERE state='resolved' ORDER BY updated DESC LIMIT ?",
                                    (limit,)).fetchall()
        return [json.loads(r[0]) for r in reversed(rows)]

    def storage(self) -> dict[str, Any]:
        """The disk's side of health: what waits in memory and why."""
        with self._lock:
            return {"error": self.storage_error, "held_revisions": len(self._held), "held_max": self.held_max,
                    "held_dropped": self.held_dropped, "damaged": self.damaged}

    def latest_revisions(self) -> dict[str, int]:
        """id -> newest revision ever enqueued."""
        with self._lock:
            return dict(self._db.execute("SELECT id, rev FROM incidents").fetchall())

    def list_pending(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, dest, kind, incident_id, rev, created, attempts, last_error FROM queue ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("seq", "dest", "kind", "incident_id", "rev", "created", "attempts", "last_error")
        return [dict(zip(keys, r)) for r in rows]

    def dead_letters(self, limit: int = 1000) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, dest, kind, incident_id, rev, created, attempts, status, response, failed_at FROM dead "
                "ORDER BY seq LIMIT ?",
                (limit,),
            ).fetchall()
        keys = ("seq", "dest", "kind", "incident_id", "rev", "created", "attempts", "status", "response", "failed_at")
        return [dict(zip(keys, r)) for r in rows]

    def retry_dead(self, seqs: Iterable[int] | None = None) -> int:
        """Put dead letters back at the end of their queue (all, or the given seq numbers)."""
        with self._lock, self._tx():
            rows = self._select_dead(seqs)
            for seq, dest, kind, iid, rev, body, created in rows:
                if kind == "telemetry":
                    self._db.execute("INSERT INTO telemetry (dest, body, created) VALUES (?, ?, ?)", (dest, body, created))
                else:
                    self._db.execute(
                        "INSERT INTO queue (dest, kind, incident_id, rev, body, created) VALUES (?, ?, ?, ?, ?, ?)",
                        (dest, kind, iid, rev, body, created),
                    )
                self._db.execute("DELETE FROM dead WHERE seq=?", (seq,))
        if rows:
            self._notify()
        return len(rows)

    def purge_dead(self, seqs: Iterable[int] | None = None) -> int:
        """Delete dead letters for good (all, or the given seq numbers)."""
        with self._lock, self._tx():
            rows = self._select_dead(seqs)
            for r in rows:
                self._db.execute("DELETE FROM dead WHERE seq=?", (r[0],))
        return len(rows)

    def prune_history(self, older_than_s: float = 30 * 86400) -> int:
        """Forget resolved incidents last changed longer ago than this (and no longer queued),
        so the restore table does not grow for ever. Returns how many were forgotten."""
        cutoff = self._clock() - older_than_s
        with self._lock, self._tx():
            cur = self._db.execute(
                "DELETE FROM incidents WHERE state='resolved' AND updated < ? "
                "AND id NOT IN (SELECT incident_id FROM queue)",
                (cutoff,),
            )
        return cur.rowcount

    def _select_dead(self, seqs):
        q = "SELECT seq, dest, kind, incident_id, rev, body, created FROM dead"
        if seqs is None:
            return self._db.execute(q + " ORDER BY seq").fetchall()
        seqs = [int(s) for s in seqs]
        return [r for s in seqs for r in self._db.execute(q + " WHERE seq=?", (s,)).fetchall()]

    def counts(self) -> dict[str, int]:
        """Cheap numbers for health and telemetry."""
        with self._lock:
            held = sum(len(self.dests) - len(h.done) for h in self._held)
            try:
                pending = self._db.execute("SELECT count(*) FROM queue").fetchone()[0]
                dead = self._db.execute("SELECT count(*) FROM dead").fetchone()[0]
                tele = self._db.execute("SELECT count(*) FROM telemetry").fetchone()[0]
            except sqlite3.DatabaseError:  # unreadable: what memory knows
                pending, dead, tele = 0, len(self._held_dead), 0
            pending += held - sum(1 for t, _ in self._undeleted if t == "queue")
            dead += len(self._held_dead)
        return {"pending": max(0, pending), "dead_letters": dead, "telemetry_backlog": tele + len(self._held_tele)}

    def stats(self) -> dict[str, Any]:
        """Everything `gedge outbox status` shows."""
        now = self._clock()
        with self._lock:
            out: dict[str, Any] = self.counts()
            per = {}
            dests = {r[0] for r in self._db.execute(
                "SELECT dest FROM queue UNION SELECT dest FROM dead UNION SELECT dest FROM telemetry").fetchall()}
            dests |= {k.split(".", 1)[1] for (k,) in self._db.execute("SELECT key FROM meta").fetchall() if "." in k}
            dests |= set(self.dests)
            for dest in sorted(dests):
                p, oldest = self._db.execute("SELECT count(*), min(created) FROM queue WHERE dest=?", (dest,)).fetchone()
                d = self._db.execute("SELECT count(*) FROM dead WHERE dest=?", (dest,)).fetchone()[0]
                t = self._db.execute("SELECT count(*) FROM telemetry WHERE dest=?", (dest,)).fetchone()[0]
                last_ok = self._get(f"last_ok.{dest}")
                last_error = self._get(f"last_error.{dest}")
                per[dest] = {
                    "pending": p,
                    "oldest_pending_age_s": round(now - oldest, 1) if oldest else None,
                    "dead_letters": d,
                    "telemetry_backlog": t,
                    "delivered_total": int(self._get(f"delivered.{dest}") or 0),
                    "dead_telemetry_dropped": int(self._get(f"dead_telemetry_dropped.{dest}") or 0),
                    "last_ok": float(last_ok) if last_ok else None,
                    "last_error": json.loads(last_error) if last_error else None,
                }
            out["open_incidents"] = self._db.execute("SELECT count(*) FROM incidents WHERE state='open'").fetchone()[0]
            out["destinations"] = per
        out["path"] = str(self.path)
        return out

    # -- internals ----------------------------------------------------------------------

    def _tx(self):
        return _Transaction(self._db)

    def _bump(self, key: str, n: int) -> None:
        self._db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=CAST(value AS INTEGER)+?",
            (key, str(n), n),
        )

    def _set(self, key: str, value: str) -> None:
        self._db.execute("INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
                         (key, value))

    def _get(self, key: str) -> str | None:
        row = self._db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def _notify(self) -> None:
        for fn in self._listeners:
            try:
                fn()
            except Exception:  # a listener must never make an enqueue fail
                log.exception("outbox listener failed")


class _Pending:
    """Revisions one caller handed to the group commit."""

    __slots__ = ("docs", "added", "error", "done")

    def __init__(self, docs: list[dict[str, Any]]):
        self.docs, self.added, self.error, self.done = docs, 0, None, False


class _Transaction:
    """BEGIN IMMEDIATE … COMMIT (ROLLBACK on error) on an autocommit connection."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")
        return self.db

    def __exit__(self, exc_type, exc, tb):
        if exc_type is None:
            self.db.execute("COMMIT")
        else:
            self.db.execute("ROLLBACK")
        return False


def _prepare(doc: dict[str, Any]) -> tuple[str, int, str, str | None, bytes]:
    """(id, rev, state, snapshot sha256, JSON body) of one incident revision."""
    iid, rev = str(doc["id"]), int(doc["rev"])
    if not iid or rev < 1:
        raise ValueError(f"incident needs an id and a rev >= 1, got {iid!r} rev {rev}")
    body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
    sha = (doc.get("snapshot") or {}).get("sha256")
    return iid, rev, str(doc.get("state", "open")), sha, body


def default_path(cfg) -> Path:
    """`<storage.state_dir>/outbox.sqlite`."""
    return Path(cfg.storage.state_dir) / OUTBOX_FILE


def _read_only_uri(path: str | Path) -> str:
    """A read-only SQLite URI (percent-encoded, so any file name works)."""
    return Path(path).resolve().as_uri() + "?mode=ro"


def _integrity(db: sqlite3.Connection) -> str | None:
    """SQLite's quick_check (a page-level scan, no index cross-check: fast enough to run every
    few minutes): None when sound."""
    rows = db.execute("PRAGMA quick_check").fetchall()
    if rows == [("ok",)]:
        return None
    return "; ".join(str(r[0]) for r in rows[:3])


def _salvage_open_incidents(path: Path) -> list[dict[str, Any]]:
    """Best effort: the open incidents a damaged file still gives (newest revision each)."""
    try:
        db = sqlite3.connect(_read_only_uri(path), uri=True)
    except sqlite3.DatabaseError:
        return []
    out = []
    try:
        for (doc,) in db.execute("SELECT doc FROM incidents WHERE state='open'"):
            try:
                out.append(json.loads(doc))
            except (TypeError, ValueError):
                continue
    except sqlite3.DatabaseError:
        pass
    finally:
        db.close()
    return out
