"""`gedge receiver`: the reference platform server (platform-api v1) for development, tests
and small deployments.

    POST {prefix}/v1/incidents               one incident; 201 stored, 409 this or a newer rev held
    PUT  {prefix}/v1/incidents/{id}/snapshot image/jpeg; 404 before the incident
    POST {prefix}/v1/telemetry               one telemetry document
    GET  {prefix}/v1/health                  200 {"ok": true} (no token needed)

Any path prefix works (the agent's default base URL ends in /api). With a token file, every
request must carry `Authorization: Bearer <token>`; without one, any caller is accepted (a
warning says so). Incidents are idempotent by (id, rev) and the highest rev is kept; every
arrival is counted per (id, rev), so duplicates are visible. Everything is stored in SQLite
and committed before the answer goes out.

For tests there is fault injection: `faults` (a list such as ["500", "429:2", "timeout:1",
"401", "drop"]) answers the next requests with those faults in order, or — with `fault_rate`
— picks one at random for that share of the requests.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import random
import re
import sqlite3
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

log = logging.getLogger(__name__)

INCIDENT_SCHEMA = "garbage-edge/incident@1"
TELEMETRY_SCHEMA = "garbage-edge/telemetry@1"
INCIDENT_TYPES = {"bag_outside_bin", "bin_full", "odor_high", "sensor_fault", "camera_fault", "bin_emptied"}
MAX_BODY = 16 * 1024 * 1024
DEFAULT_PORT = 8730
DEFAULT_DB = "receiver.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    rev INTEGER NOT NULL,
    device_id TEXT NOT NULL,
    type TEXT NOT NULL,
    state TEXT NOT NULL,
    doc TEXT NOT NULL,
    first_received REAL NOT NULL,
    received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS arrivals (
    id TEXT NOT NULL,
    rev INTEGER NOT NULL,
    count INTEGER NOT NULL,
    sha256 TEXT NOT NULL,
    conflicts INTEGER NOT NULL DEFAULT 0,   -- same (id, rev) arrived with different content
    PRIMARY KEY (id, rev)
);
CREATE TABLE IF NOT EXISTS snapshots (
    id TEXT PRIMARY KEY,
    sha256 TEXT NOT NULL,
    bytes INTEGER NOT NULL,
    data BLOB NOT NULL,
    received REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS telemetry (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    device_id TEXT NOT NULL,
    doc TEXT NOT NULL,
    received REAL NOT NULL
);
"""


class ReceiverStore:
    """What arrived, in SQLite (WAL). Thread-safe."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        if self.path.parent:
            self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(str(self.path), isolation_level=None, check_same_thread=False, timeout=30)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")  # committed data survives a crash of this process
        self._db.executescript(_SCHEMA)
        self._lock = threading.Lock()

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def put_incident(self, doc: dict[str, Any], raw: bytes) -> tuple[bool, int]:
        """(stored, held_rev): stored is False when this or a newer revision is already held."""
        iid, rev = doc["id"], int(doc["rev"])
        sha = hashlib.sha256(_canonical(doc)).hexdigest()
        now = time.time()
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._db.execute(
                    "INSERT INTO arrivals (id, rev, count, sha256) VALUES (?, ?, 1, ?) ON CONFLICT (id, rev) DO UPDATE "
                    "SET count=count+1, conflicts=conflicts+(sha256 != excluded.sha256)",
                    (iid, rev, sha),
                )
                # keep the highest revision: the update only happens when this one is newer
                cur = self._db.execute(
                    "INSERT INTO incidents (id, rev, device_id, type, state, doc, first_received, received) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (id) DO UPDATE SET rev=excluded.rev, "
                    "state=excluded.state, doc=excluded.doc, received=excluded.received WHERE excluded.rev > incidents.rev",
                    (iid, rev, doc["device_id"], doc["type"], doc["state"], raw.decode("utf-8"), now, now),
                )
                if cur.rowcount == 0:
                    held = self._db.execute("SELECT rev FROM incidents WHERE id=?", (iid,)).fetchone()[0]
                    self._db.execute("COMMIT")
                    return False, held
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return True, rev

    def has_incident(self, iid: str) -> bool:
        with self._lock:
            return self._db.execute("SELECT 1 FROM incidents WHERE id=?", (iid,)).fetchone() is not None

    def put_snapshot(self, iid: str, data: bytes) -> str:
        sha = hashlib.sha256(data).hexdigest()
        with self._lock:
            self._db.execute(
                "INSERT INTO snapshots (id, sha256, bytes, data, received) VALUES (?, ?, ?, ?, ?) "
                "ON CONFLICT (id) DO UPDATE SET sha256=excluded.sha256, bytes=excluded.bytes, data=excluded.data, "
                "received=excluded.received",
                (iid, sha, len(data), data, time.time()),
            )
        return sha

    def put_telemetry(self, doc: dict[str, Any], raw: bytes) -> None:
        with self._lock:
            self._db.execute("INSERT INTO telemetry (device_id, doc, received) VALUES (?, ?, ?)",
                             (doc.get("device_id", ""), raw.decode("utf-8"), time.time()))

    # -- reading (tests, `gedge receiver list`) ---------------------------------------------

    def incidents(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute(
                "SELECT i.doc, i.received, (SELECT sum(count) FROM arrivals a WHERE a.id=i.id), "
                "(SELECT sha256 FROM snapshots s WHERE s.id=i.id) FROM incidents i ORDER BY i.first_received, i.id"
            ).fetchall()
        out = []
        for doc, received, arrivals, snap in rows:
            out.append({"doc": json.loads(doc), "received": received, "arrivals": arrivals or 0, "snapshot_sha256": snap})
        return out

    def arrivals(self) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT id, rev, count, conflicts FROM arrivals ORDER BY id, rev").fetchall()
        return [{"id": r[0], "rev": r[1], "count": r[2], "conflicts": r[3]} for r in rows]

    def snapshot(self, iid: str) -> bytes | None:
        with self._lock:
            row = self._db.execute("SELECT data FROM snapshots WHERE id=?", (iid,)).fetchone()
        return bytes(row[0]) if row else None

    def telemetry(self, limit: int = 100) -> list[dict[str, Any]]:
        with self._lock:
            rows = self._db.execute("SELECT doc, received FROM telemetry ORDER BY seq DESC LIMIT ?", (limit,)).fetchall()
        return [{"doc": json.loads(d), "received": r} for d, r in rows]


def _canonical(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, sort_keys=True, ensure_ascii=False, separators=(",", ":")).encode()


class FaultPlan:
    """Scripted or random faults for testing the agent's retry and dead-letter handling."""

    KINDS = re.compile(r"^(?:\d{3}(?::\d+(?:\.\d+)?)?|timeout(?::\d+(?:\.\d+)?)?|drop)$")

    def __init__(self, faults: list[str] | None = None, rate: float | None = None, seed: int | None = None):
        faults = [f.strip() for f in (faults or []) if f.strip()]
        for f in faults:
            if not self.KINDS.match(f):
                raise ValueError(f"unknown fault {f!r} (use e.g. 500, 503, 429:2, 401, timeout:1.5, drop)")
        self.faults = faults
        self.rate = rate
        self._rng = random.Random(seed)
        self._lock = threading.Lock()
        self.served: list[str] = []

    def next(self) -> str | None:
        with self._lock:
            if not self.faults:
                return None
            if self.rate is None:
                f = self.faults.pop(0)
            elif self._rng.random() < self.rate:
                f = self._rng.choice(self.faults)
            else:
                return None
            self.served.append(f)
            return f


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive: the agent drains a backlog over one connection
    disable_nagle_algorithm = True  # headers and body go out at once (no 40 ms delayed-ACK stalls)
    server: "ReceiverServer"

    def log_message(self, fmt, *args):  # requests are logged at debug level, not to stderr
        log.debug("%s %s", self.address_string(), fmt % args)

    def do_GET(self):
        route = _route(self.path)
        if route == "/v1/health":
            return self._json(200, {"ok": True})
        return self._json(404, {"error": "not found"})

    def do_POST(self):
        self._handle("POST")

    def do_PUT(self):
        self._handle("PUT")

    def _handle(self, method: str) -> None:
        try:
            length = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            return self._json(400, {"error": "bad Content-Length"})
        if length > MAX_BODY:
            self.close_connection = True
            return self._json(413, {"error": f"body over {MAX_BODY} bytes"})
        body = self.rfile.read(length) if length else b""
        if self._fault():
            return
        if not self._authorised():
            return self._json(401, {"error": "missing or wrong bearer token"}, {"WWW-Authenticate": "Bearer"})
        device = self.headers.get("X-Device-Id")
        if not device:
            return self._json(400, {"error": "X-Device-Id header missing"})
        route = _route(self.path)
        m = re.fullmatch(r"/v1/incidents/([^/]+)/snapshot", route or "")
        if method == "POST" and route == "/v1/incidents":
            return self._incident(body, device)
        if method == "PUT" and m:
            return self._snapshot(m.group(1), body)
        if method == "POST" and route == "/v1/telemetry":
            return self._telemetry(body, device)
        return self._json(404, {"error": f"no such endpoint: {method} {self.path}"})

    def _incident(self, body: bytes, device: str) -> None:
        doc, problem = _parse(body, self.headers.get("Content-Type", ""))
        if problem is None:
            problem = _check_incident(doc, device)
        if problem:
            return self._json(400, {"error": problem})
        stored, held = self.server.store.put_incident(doc, body)
        if not stored:
            return self._json(409, {"id": doc["id"], "rev": held, "error": "this or a newer revision is already held"})
        return self._json(201, {"id": doc["id"], "rev": doc["rev"]})

    def _snapshot(self, iid: str, body: bytes) -> None:
        from urllib.parse import unquote

        iid = unquote(iid)
        if not self.headers.get("Content-Type", "").startswith("image/jpeg"):
            return self._json(415, {"error": "snapshot must be image/jpeg"})
        if not body.startswith(b"\xff\xd8"):
            return self._json(400, {"error": "not a JPEG"})
        if not self.server.store.has_incident(iid):
            return self._json(404, {"error": f"no incident {iid}: post the incident first"})
        sha = self.server.store.put_snapshot(iid, body)
        return self._json(201, {"id": iid, "sha256": sha, "bytes": len(body)})

    def _telemetry(self, body: bytes, device: str) -> None:
        doc, problem = _parse(body, self.headers.get("Content-Type", ""))
        if problem is None and doc.get("schema") != TELEMETRY_SCHEMA:
            problem = f"schema must be {TELEMETRY_SCHEMA}"
        if problem is None and doc.get("device_id") != device:
            problem = "device_id does not match X-Device-Id"
        if problem:
            return self._json(400, {"error": problem})
        self.server.store.put_telemetry(doc, body)
        return self._json(202, {"ok": True})

    def _authorised(self) -> bool:
        token = self.server.token
        if token is None:
            return True
        scheme, _, got = self.headers.get("Authorization", "").strip().partition(" ")
        # the scheme is case-insensitive (RFC 7235); the token is compared in constant time
        return scheme.lower() == "bearer" and hmac.compare_digest(got.strip().encode(), token.encode())

    def _fault(self) -> bool:
        fault = self.server.faults.next() if self.server.faults else None
        if fault is None:
            return False
        kind, _, arg = fault.partition(":")
        if kind in ("drop", "timeout"):
            self.server.note(self.command, self.path, kind)
        if kind == "drop":
            self.close_connection = True
            return True
        if kind == "timeout":
            time.sleep(float(arg or 5))  # longer than the client's read timeout
            self.close_connection = True
            return True
        status = int(kind)
        extra = {"Retry-After": arg} if arg else {}
        self._json(status, {"error": f"injected fault {fault}"}, extra)
        return True

    def _json(self, status: int, obj: dict[str, Any], headers: dict[str, str] | None = None) -> None:
        data = json.dumps(obj, ensure_ascii=False).encode()
        self.server.note(self.command, self.path, status)
        try:
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            for k, v in (headers or {}).items():
                self.send_header(k, v)
            self.end_headers()
            self.wfile.write(data)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True


def _route(path: str) -> str | None:
    path = path.split("?", 1)[0]
    i = path.find("/v1/")
    return path[i:].rstrip("/") if i >= 0 else None


def _parse(body: bytes, content_type: str) -> tuple[Any, str | None]:
    if not content_type.startswith("application/json"):
        return None, "Content-Type must be application/json"
    try:
        doc = json.loads(body)
    except (ValueError, UnicodeDecodeError) as e:
        return None, f"invalid JSON: {e}"
    if not isinstance(doc, dict):
        return None, "expected a JSON object"
    return doc, None


def _check_incident(doc: dict[str, Any], device: str) -> str | None:
    if doc.get("schema") != INCIDENT_SCHEMA:
        return f"schema must be {INCIDENT_SCHEMA}"
    if not isinstance(doc.get("id"), str) or not doc["id"]:
        return "id must be a non-empty string"
    rev = doc.get("rev")
    if not isinstance(rev, int) or isinstance(rev, bool) or rev < 1:
        return "rev must be an integer >= 1"
    if doc.get("type") not in INCIDENT_TYPES:
        return f"unknown type {doc.get('type')!r}"
    if doc.get("state") not in ("open", "resolved"):
        return "state must be open or resolved"
    if doc.get("device_id") != device:
        return "device_id does not match X-Device-Id"
    for key in ("opened_at", "updated_at", "site", "subject", "measurements"):
        if key not in doc:
            return f"missing {key}"
    return None


class ReceiverServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, host: str, port: int, store: ReceiverStore, token: str | None = None,
                 faults: FaultPlan | None = None):
        self.store = store
        self.token = token
        self.faults = faults
        self.log: list[tuple[float, str, str, int | str]] = []  # (monotonic, method, path, status or fault)
        super().__init__((host, port), _Handler)

    def note(self, method: str, path: str, status: int | str) -> None:
        if len(self.log) < 100_000:  # for tests; bounded so a long-running server doesn't grow
            self.log.append((time.monotonic(), method, path, status))

    @property
    def port(self) -> int:
        return self.server_address[1]

    def start_background(self) -> threading.Thread:
        """Serve on a daemon thread (tests, benchmarks); stop with shutdown() + server_close()."""
        t = threading.Thread(target=self.serve_forever, name="receiver", daemon=True)
        t.start()
        return t
