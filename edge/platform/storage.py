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
import logging
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

from ..db import open_sqlite

log = logging.getLogger("edge.platform")

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

# one incident revision (named parameters, `:name`): count the arrival, keep the highest revision.
# Neither writes for an id another device holds (no rollback needed when one of a batch is foreign).
_ARRIVAL = ("INSERT INTO arrivals (id, rev, count, sha256, state, snapshot_sha256) "
            "SELECT :id, :rev, 1, :sha, :state, :snap WHERE NOT EXISTS "
            "(SELECT 1 FROM incidents WHERE id=:id AND device_id<>:dev) "
            "ON CONFLICT (id, rev) DO UPDATE SET count=arrivals.count+1, conflicts=arrivals.conflicts+"
            "(CASE WHEN arrivals.sha256 = excluded.sha256 THEN 0 ELSE 1 END)")
_INCIDENT = ("INSERT INTO incidents (id, rev, device_id, type, state, doc, first_received, received) "
             "VALUES (:id, :rev, :dev, :type, :state, :doc, :now, :now) ON CONFLICT (id) DO UPDATE SET "
             "rev=excluded.rev, state=excluded.state, doc=excluded.doc, received=excluded.received "
             "WHERE excluded.rev > incidents.rev AND excluded.device_id = incidents.device_id")


def _load(text: str) -> Any:
    """A stored document; one a database holds that is not JSON comes back as its text."""
    try:
        return json.loads(text)
    except (ValueError, RecursionError):
        return text


def canonical(doc: dict[str, Any]) -> str:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def incident_params(docs: list[dict[str, Any]], now: float) -> list[dict[str, Any]]:
    """The named parameters of _ARRIVAL and _INCIDENT for each document."""
    params = []
    for doc in docs:
        text = canonical(doc)
        params.append({"id": doc["id"], "rev": int(doc["rev"]), "dev": doc["device_id"], "type": doc["type"],
                       "state": doc["state"], "doc": text, "sha": hashlib.sha256(text.encode()).hexdigest(),
                       "snap": (doc.get("snapshot") or {}).get("sha256"), "now": now})
    return params


def incident_results(params, rows) -> list[Any]:
    """From each document's (owner before, held rev before, stored): what put_incident returns,
    or the ForeignIncident it raises."""
    out: list[Any] = []
    for p, (owner, held, stored) in zip(params, rows):
        if owner is not None and owner != p["dev"]:
            out.append(ForeignIncident(owner))
        else:
            out.append((True, p["rev"]) if stored else (False, int(held)))
    return out


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
        result = self.put_incidents([doc])[0]
        if isinstance(result, ForeignIncident):
            raise result
        return result

    def put_incidents(self, docs: list[dict[str, Any]]) -> list[tuple[bool, int] | ForeignIncident]:
        """Several incidents in one transaction (one commit: a group commit of concurrent posts);
        per document what put_incident returns, or the ForeignIncident it would raise. A
        document of another device's incident writes nothing, so the others need no rollback."""
        params = incident_params(docs, time.time())
        return incident_results(params, self._write_incidents(params))

    def _write_incidents(self, params: list[dict[str, Any]]) -> list[tuple[str | None, int | None, bool]]:
        """Per document (owner, held rev) as they were before it, and whether it was stored."""
        raise NotImplementedError  # pragma: no cover - per dialect

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
        self._db = open_sqlite(self.path)  # the box's setup: WAL, a private file, the busy timeout
        # ...but not its fsync in every COMMIT (synchronous=FULL): that would block the server's
        # event loop for each post (1-5 ms on a busy disk, against a fraction of a millisecond).
        # A committed post survives a crash or kill of the server; a power cut of the server may
        # lose the last moments of posts, as with the previous receiver (the boxes then hold no
        # copy). A deployment that needs more uses PostgreSQL, whose commits are fsync'd.
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.executescript(_TABLES.format(blob="BLOB", serial="INTEGER PRIMARY KEY AUTOINCREMENT"))
        self._migrate()
        self._lock = threading.Lock()
        self._checkpointer: threading.Thread | None = None
        self._closing = threading.Event()

    def checkpoint_in_background(self, every_s: float = 0.25) -> None:
        """For the server: copy the log into the database from a thread and connection of its own,
        instead of inside whichever post's COMMIT finds the log full (which then holds the event
        loop through two fsyncs: tens of ms on a busy disk). Stops at close()."""
        if self._checkpointer is not None:
            return
        self._db.execute("PRAGMA wal_autocheckpoint=0")
        self._db.execute(f"PRAGMA journal_size_limit={32 * 1024 * 1024}")  # the log shrinks back after a burst
        db = open_sqlite(self.path)
        db.execute("PRAGMA synchronous=NORMAL")

        def run() -> None:
            try:
                while not self._closing.wait(every_s):
                    try:
                        _, frames, _ = db.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchone()  # never blocks the writer
                        if frames > 8000:
                            # posts without a pause: the log only starts over once all of it is copied,
                            # so copy the last frames with writers held (briefly: the rest is done above)
                            db.execute("PRAGMA wal_checkpoint(RESTART)")
                    except sqlite3.Error as e:  # e.g. a full disk: try again next time, the log keeps all
                        log.warning("SQLite checkpoint failed: %s", e)
            finally:
                db.close()

        self._checkpointer = threading.Thread(target=run, name="receiver-checkpoint", daemon=True)
        self._checkpointer.start()

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

    def _write_incidents(self, params):
        out = []
        with self._tx() as cur:
            for p in params:
                cur.execute(_ARRIVAL, p)
                cur.execute(_INCIDENT, p)
                if cur.rowcount:
                    out.append((None, None, True))
                else:  # held already (this or a newer revision), or another device's
                    owner, held = cur.execute("SELECT device_id, rev FROM incidents WHERE id=?", (p["id"],)).fetchone()
                    out.append((owner, held, False))
        return out

    def close(self) -> None:
        self._closing.set()
        if self._checkpointer is not None:
            self._checkpointer.join()
        with self._lock:
            self._db.close()


class PostgresStore(Store):
    """PostgreSQL through psycopg 3: a small pool of connections, one transaction per call.
    An incident is one statement (one round trip, committed by itself); a batch of them is one
    transaction sent in one go (psycopg's pipeline mode)."""

    _ph = "%s"

    def __init__(self, url: str, pool_size: int = 4):
        import psycopg  # optional dependency: only a PostgreSQL deployment needs it

        self.url = url
        self._pool: queue.Queue = queue.Queue()
        self._all = []
        for _ in range(pool_size):
            conn = psycopg.connect(url, autocommit=True)  # transactions are explicit (_tx)
            self._all.append(conn)
            self._pool.put(conn)
        with self._tx() as cur:
            cur.execute("SELECT pg_advisory_xact_lock(7305)")  # two servers starting at once
            for stmt in _TABLES.format(blob="BYTEA", serial="BIGSERIAL PRIMARY KEY").split(";"):
                if stmt.strip():
                    cur.execute(stmt)

    @contextmanager
    def _conn(self):
        conn = self._pool.get()
        try:
            yield conn
        finally:
            self._pool.put(conn)

    @contextmanager
    def _tx(self):
        with self._conn() as conn:
            with conn.transaction():
                with conn.cursor() as cur:
                    yield cur

    async def put_incidents_async(self, conn, docs: list[dict[str, Any]]) -> list[Any]:
        """put_incidents on a psycopg AsyncConnection (autocommit) of the caller's event loop:
        the server waits for PostgreSQL's commit without a thread."""
        params = incident_params(docs, time.time())
        if len(params) == 1:
            rows = [await (await conn.execute(_PG_INCIDENT, params[0])).fetchone()]
        else:
            async with conn.transaction():
                async with conn.cursor() as cur:
                    await cur.executemany(_PG_INCIDENT, params, returning=True)
                    rows = [await cur.fetchone()]
                    while cur.nextset():
                        rows.append(await cur.fetchone())
        for i, (p, (owner, held, stored)) in enumerate(zip(params, rows)):
            if not stored and owner is None:  # a concurrent transaction inserted it meanwhile
                cur = await conn.execute("SELECT device_id, rev FROM incidents WHERE id=%s", (p["id"],))
                rows[i] = (*(await cur.fetchone()), False)
        return incident_results(params, rows)

    def _write_incidents(self, params):
        with self._conn() as conn:
            if len(params) == 1:
                rows = [conn.execute(_PG_INCIDENT, params[0]).fetchone()]
            else:
                with conn.transaction(), conn.cursor() as cur:
                    cur.executemany(_PG_INCIDENT, params, returning=True)
                    rows = [cur.fetchone()]
                    while cur.nextset():
                        rows.append(cur.fetchone())
            out = []
            for p, (owner, held, stored) in zip(params, rows):
                if not stored and owner is None:  # a concurrent transaction inserted it meanwhile
                    owner, held = conn.execute("SELECT device_id, rev FROM incidents WHERE id=%s", (p["id"],)).fetchone()
                out.append((owner, held, stored))
        return out

    def close(self) -> None:
        for conn in self._all:
            conn.close()


# the same writes as one statement: a round trip per incident instead of five (the CTEs all see
# the table as it was before the statement, which is what `prior` reports)
_PG_INCIDENT = re.sub(r":(\w+)", r"%(\1)s",
                      "WITH prior AS (SELECT device_id, rev FROM incidents WHERE id=:id), "
                      f"arrival AS ({_ARRIVAL}), stored AS ({_INCIDENT} RETURNING 1) "
                      "SELECT (SELECT device_id FROM prior), (SELECT rev FROM prior), EXISTS (SELECT 1 FROM stored)")


def is_database_url(target: str) -> bool:
    return target.startswith(("postgresql://", "postgres://"))


def open_store(target: str | Path) -> Store:
    """A PostgreSQL URL or an SQLite file path."""
    if isinstance(target, str) and is_database_url(target):
        return PostgresStore(target)
    return SQLiteStore(target)
