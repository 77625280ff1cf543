"""What arrived at the platform: one interface, SQLite (default) or PostgreSQL (by URL).

    store = open_store("receiver.sqlite")                       # a file: SQLite, WAL
    store = open_store("postgresql://gedge@db.example/gedge")   # psycopg 3

Every write is committed before the server answers. Incidents keep their highest revision;
every arrival is counted per (id, rev) with its content hash (a same-(id, rev)-different-content
arrival is flagged). Pictures are kept per incident and role: the opening picture and the
resolving one (the evidence that the loop closed), so the board can show both.
"""
from __future__ import annotations

import hashlib
import json
import queue
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

TELEMETRY_KEEP_S = 7 * 86400  # telemetry is latest-value data: a week is plenty for the board

_TABLES = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    rev BIGINT NOT NULL,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    doc TEXT NOT NULL,
    first_received DOUBLE PRECISION NOT NULL,
    received DOUBLE PRECISION NOT NULL
);
CREATE TABLE IF NOT EXISTS arrivals (
    id TEXT NOT NULL,
    rev BIGINT NOT NULL,
    count BIGINT NOT NULL,
    sha256 TEXT NOT NULL,
    conflicts BIGINT NOT NULL DEFAULT 0,
    state TEXT NOT NULL DEFAULT 'open',
    snapshot_sha256 TEXT,
    PRIMARY KEY (id, rev)
);
CREATE TABLE IF NOT EXISTS pictures (
    id TEXT NOT NULL,
    role TEXT NOT NULL,
    sha256 TEXT NOT NULL,
    bytes BIGINT NOT NULL,
    data {blob} NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (id, role)
);
CREATE TABLE IF NOT EXISTS telemetry (
    seq {serial},
    device_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL
);
CREATE INDEX IF NOT EXISTS telemetry_by_device ON telemetry (device_id, received);
CREATE TABLE IF NOT EXISTS daily (
    device_id TEXT NOT NULL,
    date TEXT NOT NULL,
    doc TEXT NOT NULL,
    received DOUBLE PRECISION NOT NULL,
    PRIMARY KEY (device_id, date)
);
"""

PICTURE_ROLES = ("open", "resolve")


def _load(text: str) -> Any:
    """A stored document; one a database holds that is not JSON comes back as its text."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


class ForeignIncident(Exception):
    """The incident id belongs to another device."""

    def __init__(self, owner: str):
        super().__init__(owner)
        self.owner = owner


class Store:
    """The interface; subclasses give `_tx()` (a cursor in a transaction) and the SQL dialect."""

    _ph = "?"
    _next_prune = 0.0

    def _sql(self, q: str) -> str:
        return q if self._ph == "?" else q.replace("?", "%s")

    @contextmanager
    def _tx(self) -> Iterator[Any]:  # pragma: no cover - abstract
        raise NotImplementedError
        yield

    def _exec(self, cur, q: str, args: tuple = ()):
        cur.execute(self._sql(q), args)
        return cur

    def close(self) -> None:
        pass

    # -- writing ----------------------------------------------------------------------------

    def put_incident(self, doc: dict[str, Any]) -> tuple[bool, int]:
        """(stored, held_rev): stored is False when this or a newer revision is already held.
        ForeignIncident when another device holds this id (nothing is written)."""
        iid, rev = doc["id"], int(doc["rev"])
        text = canonical(doc)
        sha = hashlib.sha256(text.encode()).hexdigest()
        snap = (doc.get("snapshot") or {}).get("sha256")
        now = time.time()
        with self._tx() as cur:
            owner = self._exec(cur, "SELECT device_id FROM incidents WHERE id=?", (iid,)).fetchone()
            if owner is not None and owner[0] != doc["device_id"]:
                raise ForeignIncident(owner[0])
            self._exec(cur, "INSERT INTO arrivals (id, rev, count, sha256, state, snapshot_sha256) VALUES (?, ?, 1, ?, ?, ?) "
                            "ON CONFLICT (id, rev) DO UPDATE SET count=arrivals.count+1, conflicts=arrivals.conflicts+"
                            "(CASE WHEN arrivals.sha256 = excluded.sha256 THEN 0 ELSE 1 END)",
                       (iid, rev, sha, doc["state"], snap))
            # keep the highest revision: the update happens only when this one is newer
            self._exec(cur, "INSERT INTO incidents (id, rev, device_id, type, state, doc, first_received, received) "
                            "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET rev=excluded.rev, "
                            "state=excluded.state, doc=excluded.doc, received=excluded.received "
                            "WHERE excluded.rev > incidents.rev AND excluded.device_id = incidents.device_id",
                       (iid, rev, doc["device_id"], doc["type"], doc["state"], text, now, now))
            if cur.rowcount == 0:
                held = self._exec(cur, "SELECT rev FROM incidents WHERE id=?", (iid,)).fetchone()[0]
                return False, int(held)
        return True, rev

    def incident_owner(self, iid: str) -> str | None:
        with self._tx() as cur:
            row = self._exec(cur, "SELECT device_id FROM incidents WHERE id=?", (iid,)).fetchone()
        return row[0] if row else None

    def put_snapshot(self, iid: str, data: bytes) -> tuple[str, str]:
        """Store a picture; (sha256, role). The role is that of the revision announcing this
        picture (a resolving revision's picture is the 'resolve' one), else the held state."""
        sha = hashlib.sha256(data).hexdigest()
        with self._tx() as cur:
            row = self._exec(cur, "SELECT state FROM arrivals WHERE id=? AND snapshot_sha256=? ORDER BY rev DESC LIMIT 1",
                             (iid, sha)).fetchone()
            if row is None:
                row = self._exec(cur, "SELECT state FROM incidents WHERE id=?", (iid,)).fetchone()
            role = "resolve" if row and row[0] == "resolved" else "open"
            self._exec(cur, "INSERT INTO pictures (id, role, sha256, bytes, data, received) VALUES (?, ?, ?, ?, ?, ?) "
                            "ON CONFLICT (id, role) DO UPDATE SET sha256=excluded.sha256, bytes=excluded.bytes, "
                            "data=excluded.data, received=excluded.received",
                       (iid, role, sha, len(data), data, time.time()))
        return sha, role

    def put_telemetry(self, doc: dict[str, Any]) -> None:
        now = time.time()
        with self._tx() as cur:
            self._exec(cur, "INSERT INTO telemetry (device_id, doc, received) VALUES (?, ?, ?)",
                       (doc["device_id"], canonical(doc), now))
            if now >= self._next_prune:  # now and then, not on every insert
                self._next_prune = now + 3600
                self._exec(cur, "DELETE FROM telemetry WHERE received < ?", (now - TELEMETRY_KEEP_S,))

    def put_daily(self, doc: dict[str, Any]) -> bool:
        """Idempotent by (device_id, date): a resent day replaces the earlier copy. True if new."""
        with self._tx() as cur:
            seen = self._exec(cur, "SELECT 1 FROM daily WHERE device_id=? AND date=?",
                              (doc["device_id"], doc["date"])).fetchone()
            self._exec(cur, "INSERT INTO daily (device_id, date, doc, received) VALUES (?, ?, ?, ?) "
                            "ON CONFLICT (device_id, date) DO UPDATE SET doc=excluded.doc, received=excluded.received",
                       (doc["device_id"], doc["date"], canonical(doc), time.time()))
        return seen is None

    # -- reading (tests, `gedge receiver list`, the board) ------------------------------------

    def incidents(self, since: float | None = None, open_only: bool = False) -> list[dict[str, Any]]:
        q = ("SELECT i.doc, i.received, (SELECT sum(count) FROM arrivals a WHERE a.id=i.id), "
             "(SELECT sha256 FROM pictures p WHERE p.id=i.id ORDER BY p.received DESC LIMIT 1), "
             "(SELECT count(*) FROM pictures p WHERE p.id=i.id AND p.role='open'), "
             "(SELECT count(*) FROM pictures p WHERE p.id=i.id AND p.role='resolve') FROM incidents i")
        cond, args = [], []
        if since is not None:
            cond.append("i.received >= ?")
            args.append(since)
        if open_only:
            cond.append("i.state = 'open'")
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self._tx() as cur:
            rows = self._exec(cur, q + " ORDER BY i.first_received, i.id", tuple(args)).fetchall()
        return [{"doc": _load(doc), "received": received, "arrivals": int(arrivals or 0), "snapshot_sha256": snap,
                 "pictures": [r for r, n in zip(PICTURE_ROLES, (n_open, n_res)) if n]}
                for doc, received, arrivals, snap, n_open, n_res in rows]

    def arrivals(self) -> list[dict[str, Any]]:
        with self._tx() as cur:
            rows = self._exec(cur, "SELECT id, rev, count, conflicts FROM arrivals ORDER BY id, rev").fetchall()
        return [{"id": r[0], "rev": int(r[1]), "count": int(r[2]), "conflicts": int(r[3])} for r in rows]

    def snapshot(self, iid: str, role: str | None = None) -> bytes | None:
        """The picture of that role, or (role None) the one received last."""
        q, args = "SELECT data FROM pictures WHERE id=?", (iid,)
        if role is not None:
            q, args = q + " AND role=?", (iid, role)
        with self._tx() as cur:
            row = self._exec(cur, q + " ORDER BY received DESC LIMIT 1", args).fetchone()
        return bytes(row[0]) if row else None

    def telemetry(self, limit: int = 100, device_id: str | None = None, since: float | None = None) -> list[dict[str, Any]]:
        """Newest first."""
        q, args = "SELECT doc, received FROM telemetry", []
        cond = []
        if device_id is not None:
            cond.append("device_id = ?")
            args.append(device_id)
        if since is not None:
            cond.append("received >= ?")
            args.append(since)
        if cond:
            q += " WHERE " + " AND ".join(cond)
        with self._tx() as cur:
            rows = self._exec(cur, q + " ORDER BY received DESC, seq DESC LIMIT ?", (*args, limit)).fetchall()
        return [{"doc": _load(d), "received": r} for d, r in rows]

    def devices(self) -> list[str]:
        with self._tx() as cur:
            rows = self._exec(cur, "SELECT device_id FROM incidents UNION SELECT device_id FROM telemetry "
                                   "UNION SELECT device_id FROM daily ORDER BY 1").fetchall()
        return [r[0] for r in rows]

    def daily(self, device_id: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
        """Newest day first."""
        q, args = "SELECT doc, received FROM daily", ()
        if device_id is not None:
            q, args = q + " WHERE device_id=?", (device_id,)
        with self._tx() as cur:
            rows = self._exec(cur, q + " ORDER BY date DESC, device_id LIMIT ?", (*args, limit)).fetchall()
        return [{"doc": _load(d), "received": r} for d, r in rows]


class SQLiteStore(Store):
    """SQLite in WAL mode; one connection, serialised by a lock (SQLite has one writer anyway)."""

    inline = True  # fast enough to call from the server's event loop

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # committed data survives a crash of this process
        self._db.executescript(_TABLES.format(blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        self._migrate()
        self._lock = threading.Lock()

    def _migrate(self) -> None:
        """Databases written by the first receiver: add the newer columns, move `snapshots` to `pictures`."""
        cols = {r[1] for r in self._db.execute("PRAGMA table_info(arrivals)")}
        for col, decl in (("state", "TEXT NOT NULL DEFAULT 'open'"), ("snapshot_sha256", "TEXT")):
            if col not in cols:
                self._db.execute(f"ALTER TABLE arrivals ADD COLUMN {col} {decl}")
        if self._db.execute("SELECT 1 FROM sqlite_master WHERE type='table' AND name='snapshots'").fetchone():
            self._db.execute("INSERT OR IGNORE INTO pictures (id, role, sha256, bytes, data, received) "
                             "SELECT id, 'open', sha256, bytes, data, received FROM snapshots")
            self._db.execute("DROP TABLE snapshots")

    @contextmanager
    def _tx(self):
        with self._lock:
            cur = self._db.cursor()
            cur.execute("BEGIN IMMEDIATE")
            try:
                yield cur
            except BaseException:
                cur.execute("ROLLBACK")
                raise
            cur.execute("COMMIT")

    def close(self) -> None:
        with self._lock:
            self._db.close()


class PostgresStore(Store):
    """PostgreSQL through psycopg 3: a small pool of connections, one transaction per call."""

    _ph = "%s"

    def __init__(self, url: str, pool_size: int = 4):
        import psycopg  # optional dependency: only a PostgreSQL deployment needs it

        self.url = url
        self._pool: queue.Queue = queue.Queue()
        self._all = []
        for _ in range(pool_size):
            conn = psycopg.connect(url, autocommit=False)
            self._all.append(conn)
            self._pool.put(conn)
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7305)")  # two servers starting at once
            for stmt in _TABLES.format(blob="BYTEA", serial="BIGSERIAL PRIMARY KEY").split(";"):
                if stmt.strip():
                    cur.execute(stmt)

    @contextmanager
    def _tx(self):
        conn = self._pool.get()
        try:
            with conn.transaction():
                with conn.cursor() as cur:
                    yield cur
        finally:
            self._pool.put(conn)

    def close(self) -> None:
        for conn in self._all:
            conn.close()


def is_database_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str | Path) -> Store:
    """A PostgreSQL URL or an SQLite file path."""
    if isinstance(target, str) and is_database_url(target):
        return PostgresStore(target)
    return SQLiteStore(target)
