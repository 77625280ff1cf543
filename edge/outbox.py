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
"""
from __future__ import annotations

import json
import logging
import sqlite3
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Iterable

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
                 clock: Callable[[], float] = time.time):
        self.path = Path(path)
        self.dests = tuple(dests)
        self.telemetry_backlog = int(telemetry_backlog)
        self._clock = clock
        self._lock = threading.RLock()
        self._listeners: list[Callable[[], None]] = []
        self._gc = threading.Condition()  # group commit of concurrent enqueues
        self._gc_waiting: list[_Pending] = []
        self._gc_busy = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=FULL")  # every commit fsync'd: survives power loss
        self._db.execute("PRAGMA busy_timeout=30000")
        self._db.executescript(_SCHEMA)  # idempotent (IF NOT EXISTS)

    @classmethod
    def from_config(cls, cfg, path: str | Path | None = None) -> "Outbox":
        dests = [name for name, on in (("http", cfg.uplink.http.enabled), ("mqtt", cfg.uplink.mqtt.enabled)) if on]
        return cls(path or default_path(cfg), dests=dests, telemetry_backlog=cfg.uplink.telemetry_backlog)

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
            with self._lock, self._tx():
                for entry in batch:
                    entry.added = sum(self._enqueue_one(doc, now) for doc in entry.docs)
        except BaseException as e:  # nothing of this batch is on disk: every caller hears so
            for entry in batch:
                entry.added, entry.error = 0, e
        for entry in batch:
            entry.done = True

    def _enqueue_one(self, prepared: tuple, now: float) -> int:
        iid, rev, state, sha, body = prepared
        row = self._db.execute("SELECT rev, snapshot FROM incidents WHERE id=?", (iid,)).fetchone()
        if row is not None and row[0] >= rev:
            return 0  # idempotent by (id, rev): this or a newer revision is already queued
        prev_sha = row[1] if row else None
        for dest in self.dests:
            self._db.execute(
                "INSERT INTO queue (dest, kind, incident_id, rev, body, created) VALUES (?, 'incident', ?, ?, ?, ?)",
                (dest, iid, rev, body, now),
            )
            if sha and sha != prev_sha:  # a new picture: its upload follows this revision
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
        """Latest-value data: keeps at most `telemetry_backlog` per destination, newest win."""
        body = json.dumps(doc, ensure_ascii=False, separators=(",", ":")).encode()
        now = self._clock()
        with self._lock, self._tx():
            for dest in self.dests:
                self._db.execute("INSERT INTO telemetry (dest, body, created) VALUES (?, ?, ?)", (dest, body, now))
                self._db.execute(
                    "DELETE FROM telemetry WHERE dest=? AND seq NOT IN "
                    "(SELECT seq FROM telemetry WHERE dest=? ORDER BY seq DESC LIMIT ?)",
                    (dest, dest, self.telemetry_backlog),
                )
        self._notify()

    # -- the uplink's side ---------------------------------------------------------------

    def pending(self, dest: str, limit: int = 64) -> list[Item]:
        """The oldest queued incidents / snapshots for this destination, in order."""
        with self._lock:
            rows = self._db.execute(
                "SELECT seq, dest, kind, incident_id, rev, body, created, attempts FROM queue "
                "WHERE dest=? ORDER BY seq LIMIT ?",
                (dest, limit),
            ).fetchall()
        return [Item(r[0], r[1], r[2], r[3], r[4], bytes(r[5]), r[6], r[7]) for r in rows]

    def next_telemetry(self, dest: str) -> Item | None:
        """The newest telemetry document waiting for this destination (latest value first)."""
        with self._lock:
            r = self._db.execute(
                "SELECT seq, dest, body, created FROM telemetry WHERE dest=? ORDER BY seq DESC LIMIT 1", (dest,)
            ).fetchone()
        return Item(r[0], r[1], "telemetry", None, None, bytes(r[2]), r[3]) if r else None

    def delivered(self, items: Iterable[Item]) -> None:
        """Remove delivered items (one transaction for a batch)."""
        items = list(items)
        if not items:
            return
        now = self._clock()
        with self._lock, self._tx():
            for it in items:
                table = "telemetry" if it.kind == "telemetry" else "queue"
                self._db.execute(f"DELETE FROM {table} WHERE seq=?", (it.seq,))
            dests = {it.dest for it in items}
            for dest in dests:
                n = sum(1 for it in items if it.dest == dest)
                self._bump(f"delivered.{dest}", n)
                self._set(f"last_ok.{dest}", repr(now))

    def failed(self, item: Item, error: str) -> None:
        """A temporary failure: the item stays queued; attempts and the error are noted."""
        now = self._clock()
        with self._lock, self._tx():
            if item.kind != "telemetry":
                self._db.execute("UPDATE queue SET attempts=attempts+1, last_error=? WHERE seq=?", (error[:500], item.seq))
            self._set(f"last_error.{item.dest}", json.dumps({"at": now, "error": error[:500]}))

    def dead_letter(self, item: Item, status: int | None, response: str) -> None:
        """A permanent failure: moved to the dead-letter list with the status and response body."""
        now = self._clock()
        with self._lock, self._tx():
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
        log.warning("dead-lettered %s for %s: status %s", item.label, item.dest, status)

    # -- inspection and maintenance (gedge outbox) ----------------------------------------

    def open_incidents(self) -> list[dict[str, Any]]:
        """Newest revision of every incident still open (to restore the IncidentBook)."""
        with self._lock:
            rows = self._db.execute("SELECT doc FROM incidents WHERE state='open'").fetchall()
        return [json.loads(r[0]) for r in rows]

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
            pending = self._db.execute("SELECT count(*) FROM queue").fetchone()[0]
            dead = self._db.execute("SELECT count(*) FROM dead").fetchone()[0]
            tele = self._db.execute("SELECT count(*) FROM telemetry").fetchone()[0]
        return {"pending": pending, "dead_letters": dead, "telemetry_backlog": tele}

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

    def last_status(self, dest: str) -> tuple[float | None, dict | None]:
        with self._lock:
            ok, err = self._get(f"last_ok.{dest}"), self._get(f"last_error.{dest}")
        return (float(ok) if ok else None, json.loads(err) if err else None)

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
