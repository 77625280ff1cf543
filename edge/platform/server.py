"""`ReceiverServer`: the platform app on uvicorn, in this thread or a background one.

    server = ReceiverServer("127.0.0.1", 0, open_store("r.sqlite"), tokens=TokenBook("tokens"))
    server.start_background(); ...; server.shutdown(); server.server_close()

The socket is bound when the object is made (so `port` is known and a busy port fails at once).
"""
from __future__ import annotations

import asyncio
import logging
import socket
import threading
import time
from typing import Any

import uvicorn

from .app import create_app
from .limits import ApiGuard, FaultPlan, GuardedH11Protocol, GuardedHttpToolsProtocol, Limits
from .storage import Store
from .tokens import TokenBook

log = logging.getLogger("edge.platform")


class ReceiverServer:
    """`tls`: (certificate file, key file) to serve HTTPS."""

    def __init__(self, host: str, port: int, store: Store, token: str | None = None,
                 faults: FaultPlan | None = None, tokens: TokenBook | None = None,
                 limits: Limits | None = None, board_users: Any = None,
                 tls: tuple[str, str] | None = None):
        self.store = store
        # per-device tokens; `token` alone is one shared development token for any device
        self.tokens = tokens or TokenBook(shared_token=token)
        if tokens is not None and token is not None:
            self.tokens.shared_token = token
        self.faults = faults
        self.limits = limits or Limits()
        self.board_users = board_users
        self.log: list[tuple[float, str, str, int | str]] = []  # (monotonic, method, path, status or fault)
        # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets that say so, and without it
        # a response's head and body wait out the client's 40 ms delayed ACK
        self._sock = socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET, socket.SOCK_STREAM,
                                   socket.IPPROTO_TCP)
        try:
            self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            self._sock.bind((host, port))
            self._sock.listen(2048)
        except OSError:
            self._sock.close()
            raise
        self.host = host
        self.app = create_app(self)
        base = GuardedHttpToolsProtocol or GuardedH11Protocol
        protocol = type("Protocol", (base,), {"header_timeout_s": self.limits.header_timeout_s,
                                              "max_header_bytes": self.limits.max_header_bytes})
        self._uvicorn = uvicorn.Server(uvicorn.Config(
            ApiGuard(self.app, self), http=protocol, lifespan="off", log_level="warning", access_log=False,
            timeout_keep_alive=self.limits.keep_alive_s, limit_concurrency=self.limits.max_connections,
            h11_max_incomplete_event_size=self.limits.max_header_bytes, backlog=2048,
            timeout_graceful_shutdown=2, server_header=False,
            ssl_certfile=str(tls[0]) if tls else None, ssl_keyfile=str(tls[1]) if tls else None))
        self._thread: threading.Thread | None = None
        self._serving = threading.Event()
        self._stopped = threading.Event()

    @property
    def port(self) -> int:
        return self._sock.getsockname()[1]

    @property
    def server_address(self) -> tuple:
        return self._sock.getsockname()

    def note(self, method: str, path: str, status: int | str) -> None:
        if len(self.log) < 100_000:  # for tests; bounded so a long-running server doesn't grow
            self.log.append((time.monotonic(), method, path, status))

    def serve_forever(self, poll_interval: float = 0.5) -> None:
        """Serve until shutdown() (or, in the main thread, SIGINT/SIGTERM)."""
        self._serving.set()
        try:
            with asyncio.Runner(loop_factory=_event_loop_factory()) as runner:
                runner.run(self._uvicorn.serve(sockets=[self._sock]))
        finally:
            self._stopped.set()

    def start_background(self) -> threading.Thread:
        """Serve on a daemon thread (tests, benchmarks); stop with shutdown() + server_close()."""
        self._thread = threading.Thread(target=self.serve_forever, name="receiver", daemon=True)
        self._thread.start()
        deadline = time.monotonic() + 10
        while not self._uvicorn.started and self._thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        return self._thread

    def shutdown(self) -> None:
        self._uvicorn.should_exit = True
        if self._serving.is_set() and (self._thread is None or self._thread is not threading.current_thread()):
            self._stopped.wait(10)

    def server_close(self) -> None:
        self._sock.close()


def _event_loop_factory():
    """uvloop where installed (it comes with the package): its loop in C costs a fraction of asyncio's
    per request; asyncio's own loop otherwise."""
    try:
        import uvloop
    except ImportError:
        return None
    return uvloop.new_event_loop
