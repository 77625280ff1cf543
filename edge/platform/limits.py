"""What a caller without a token can cost the server: little, and not for long.

- `GuardedH11Protocol` (uvicorn's h11 protocol plus one timer): a connection must deliver a
  complete request head within `header_timeout_s` of connecting or of its previous answer.
  uvicorn alone waits forever for the first request and re-arms nothing when a slow client
  trickles header bytes; its keep-alive timeout and h11's header-size limit stay as they are.
- `ApiGuard` (ASGI middleware, outermost): for every write to the API it checks the token and
  the device identity and the declared body size *before* a byte of the body is read, then
  counts bytes while the body streams and gives the whole body `body_timeout_s` to arrive.
- `FaultPlan`: scripted faults for testing the agent (500, 429:2, timeout:1, drop, ...).
"""
from __future__ import annotations

import asyncio
import json
import logging
import random
import re
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from uvicorn.protocols.http.h11_impl import H11Protocol

from .tokens import TokenBook

log = logging.getLogger("edge.platform")


@dataclass
class Limits:
    max_json_bytes: int = 1024 * 1024  # a contract document is a few kB
    max_picture_bytes: int = 16 * 1024 * 1024
    max_header_bytes: int = 16 * 1024  # h11's incomplete-event limit
    header_timeout_s: float = 10.0
    body_timeout_s: float = 30.0  # the whole body, however it trickles in
    keep_alive_s: float = 5.0
    max_connections: int = 4096  # beyond: 503 (uvicorn's limit_concurrency)


class _CoalescingTransport:
    """Joins the writes of one loop iteration into one send: uvicorn writes a response's head
    and body apart, and each send on a busy machine costs a system call and a wake-up."""

    def __init__(self, transport, loop):
        self._transport, self._loop = transport, loop
        self._pending: list[bytes] = []

    def write(self, data: bytes) -> None:
        if not self._pending:
            self._loop.call_soon(self._flush)
        self._pending.append(data)

    def _flush(self) -> None:
        if self._pending:
            data, self._pending = b"".join(self._pending), []
            if not self._transport.is_closing():
                self._transport.write(data)

    def close(self) -> None:
        self._flush()
        self._transport.close()

    def __getattr__(self, name):
        return getattr(self._transport, name)


class _HeadDeadline:
    """Mixin for uvicorn's protocols: a request head must be complete within header_timeout_s of
    the connection or of the previous answer (uvicorn alone waits forever for the first one)."""

    header_timeout_s = 10.0  # set per server (see server.py)
    max_header_bytes = 16 * 1024

    def connection_made(self, transport) -> None:  # type: ignore[override]
        super().connection_made(transport)  # type: ignore[misc]
        self.transport = _CoalescingTransport(transport, self.loop)
        self._head_cycle = None
        self._head_bytes = 0
        self._arm_head_timer()

    def _arm_head_timer(self) -> None:
        self._cancel_head_timer()
        self._head_timer = self.loop.call_later(self.header_timeout_s, self._head_timeout)

    def _cancel_head_timer(self) -> None:
        timer = getattr(self, "_head_timer", None)
        if timer is not None:
            timer.cancel()
            self._head_timer = None

    def _head_timeout(self) -> None:
        self._head_timer = None
        if self.cycle is self._head_cycle and not self.transport.is_closing():
            self.transport.close()  # no complete request head in time: a slow or idle client

    def _head_arrived(self) -> None:
        self._head_cycle = self.cycle  # the body has its own deadline (ApiGuard)
        self._head_bytes = 0
        self._cancel_head_timer()

    def on_response_complete(self) -> None:
        super().on_response_complete()  # type: ignore[misc]
        if not self.transport.is_closing():
            self._head_cycle = self.cycle
            self._arm_head_timer()

    def connection_lost(self, exc) -> None:
        self._cancel_head_timer()
        super().connection_lost(exc)  # type: ignore[misc]


class GuardedH11Protocol(_HeadDeadline, H11Protocol):
    """h11 (pure Python); its incomplete-event limit bounds the head's size."""

    def handle_events(self) -> None:
        super().handle_events()
        if self.cycle is not None and self.cycle is not self._head_cycle:
            self._head_arrived()


class _HeadTooLarge(Exception):
    pass


try:
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
except ImportError:  # httptools not installed: the h11 protocol serves
    HttpToolsProtocol = None

if HttpToolsProtocol is not None:
    class GuardedHttpToolsProtocol(_HeadDeadline, HttpToolsProtocol):  # type: ignore[misc, valid-type]
        """httptools (llhttp, C: about half the CPU of h11 per request); the head's size is
        counted here, as llhttp sets no limit of its own (over it: 400 and closed)."""

        def _count(self, n: int) -> None:
            self._head_bytes += n
            if self._head_bytes > self.max_header_bytes:
                raise _HeadTooLarge()  # httptools turns it into a parser error: uvicorn answers 400

        def on_url(self, url: bytes) -> None:
            self._count(len(url))
            super().on_url(url)

        def on_header(self, name: bytes, value: bytes) -> None:
            self._count(len(name) + len(value) + 4)
            super().on_header(name, value)

        def on_headers_complete(self) -> None:
            super().on_headers_complete()
            self._head_arrived()
else:
    GuardedHttpToolsProtocol = None


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


class BodyTooLarge(Exception):
    pass


class BodyTimeout(Exception):
    pass


class _Dropped(Exception):
    """Raised after a response head to make uvicorn close the connection (fault `drop`)."""


class _QuietDrops(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return not (record.exc_info and isinstance(record.exc_info[1], _Dropped))


logging.getLogger("uvicorn.error").addFilter(_QuietDrops())


_timeout = getattr(asyncio, "timeout", None)  # Python 3.11+


def api_route(path: str) -> str | None:
    """'/v1/…' wherever it sits under a prefix ('/api/v1/incidents' → '/v1/incidents')."""
    i = path.find("/v1/")
    return path[i:].rstrip("/") if i >= 0 else None


def header(scope, name: bytes) -> str | None:
    for k, v in scope["headers"]:
        if k == name:
            return v.decode("latin-1")
    return None


class ApiGuard:
    """Outermost ASGI middleware: faults, token, device identity, body size and time."""

    def __init__(self, app, server):
        self.app = app
        self.server = server  # tokens, faults, limits, note(): read at each request (tests swap faults)
        self.direct_routes = getattr(getattr(app, "state", None), "direct_routes", None) or {}

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http":
            return await self.app(scope, receive, send)
        path = scope["path"]
        route = api_route(path)
        method = scope["method"]

        async def noting_send(message):
            if message["type"] == "http.response.start":
                self.server.note(method, path, message["status"])
            await send(message)

        if route is None or route.startswith("/v1/health") or method in ("GET", "HEAD", "OPTIONS"):
            if route is not None:
                scope = dict(scope, path=route)  # the API's routes sit at /v1/… whatever the prefix
            return await self.app(scope, receive, noting_send)
        scope = dict(scope, path=route)
        # scripted faults come first: they stand for a platform that is down or overloaded
        fault = self.server.faults.next() if self.server.faults else None
        if fault is not None:
            return await self._fault(fault, method, path, send)
        device, problem = self._identify(scope)
        if problem is not None:
            return await _refuse(noting_send, *problem)
        length = header(scope, b"content-length")
        limit = self.server.limits.max_picture_bytes if route.endswith("/snapshot") else self.server.limits.max_json_bytes
        if length is not None and int(length) > limit:  # h11 has already refused anything but digits
            return await _refuse(noting_send, 413, f"body of {length} bytes is over the limit of {limit}")
        scope.setdefault("state", {})
        scope["state"] = dict(scope["state"], device_id=device, body_limit=limit)
        deadline = time.monotonic() + self.server.limits.body_timeout_s
        received = 0

        async def guarded_receive():
            nonlocal received
            left = deadline - time.monotonic()
            if left <= 0:
                raise BodyTimeout()
            try:
                if _timeout is not None:  # a timer, where wait_for would make a task and a loop turn per read
                    async with _timeout(left):
                        message = await receive()
                else:
                    message = await asyncio.wait_for(receive(), left)
            except asyncio.TimeoutError:
                raise BodyTimeout() from None
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > limit:
                    raise BodyTooLarge()
            return message

        direct = self.direct_routes.get((method, route))
        if direct is not None:
            from .app import call_direct

            return await call_direct(direct, scope, guarded_receive, noting_send)
        return await self.app(scope, guarded_receive, noting_send)

    def _identify(self, scope) -> tuple[str | None, tuple[int, str, dict] | None]:
        """(device the caller may act for, "*" = any; or the refusal)."""
        tokens: TokenBook = self.server.tokens
        claimed = header(scope, b"x-device-id")
        if tokens.open:
            device = "*"
        else:
            scheme, _, token = (header(scope, b"authorization") or "").strip().partition(" ")
            device = tokens.device_of(token.strip()) if scheme.lower() == "bearer" and token.strip() else None
            if device is None:
                return None, (401, "missing or wrong bearer token", {"www-authenticate": "Bearer"})
        if not claimed:
            return None, (400, "X-Device-Id header missing", {})
        if device != "*" and claimed != device:
            return None, (403, f"this token belongs to another device, not {claimed[:64]!r}", {})
        return claimed, None

    async def _fault(self, fault: str, method: str, path: str, send) -> None:
        kind, _, arg = fault.partition(":")
        if kind in ("drop", "timeout"):
            self.server.note(method, path, kind)
            if kind == "timeout":
                await asyncio.sleep(float(arg or 5))  # longer than the client's read timeout
            await send({"type": "http.response.start", "status": 500, "headers": [(b"content-length", b"100")]})
            raise _Dropped()  # uvicorn closes the connection: the client gets no answer
        status = int(kind)
        self.server.note(method, path, status)
        extra = {"retry-after": arg} if arg else {}
        await _refuse(send, status, f"injected fault {fault}", extra, close=False)


async def _refuse(send, status: int, error: str, extra: dict[str, str] | None = None, close: bool = True) -> None:
    """An answer without reading the body; the connection is closed, so the unread body is never read."""
    data = json.dumps({"error": error}, ensure_ascii=False).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(data)).encode())]
    headers += [(k.encode(), v.encode()) for k, v in (extra or {}).items()]
    if close:
        headers.append((b"connection", b"close"))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": data})


def json_error(status: int, error: str, **extra: Any):
    from starlette.responses import JSONResponse

    return JSONResponse({"error": error, **extra}, status_code=status)


Note = Callable[[str, str, Any], None]
