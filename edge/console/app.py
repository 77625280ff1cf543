"""The maintenance console (维护控制台): its own process, beside the agent, on uvicorn.

    app = create_app("/etc/garbage-edge/config.yaml")    # `gedge console` serves it
    GET /, /zones, /sensors, /incidents, /tools, /login  the pages (pages.py)
    /api/…                                              the JSON API (api.py)
    POST /login, /logout                                the session (auth.py)

The agent never waits on the console: the console reads the agent's state through its control
socket (edge.runtime.control) and changes the config only through the config layer, then sends
SIGHUP. A client that is not on loopback needs the console password (auth.py).

Requests that change something must come from the console's own pages: a POST/PUT/DELETE whose
Origin (or Sec-Fetch-Site) says another site sent it is refused, so a web page open in the
technician's browser cannot press the console's buttons (the API's cookies are SameSite=Strict
too, but a loopback client needs none). And the Host a request names must be an IP address,
localhost or the box's own name, so a web site cannot point its own DNS name at 127.0.0.1 and
read the console as if it were that site's (DNS rebinding).
"""
from __future__ import annotations

import ipaddress
import os
import socket
from pathlib import Path
from typing import Iterable
from urllib.parse import urlsplit

from fastapi import FastAPI
from starlette.requests import Request
from starlette.responses import JSONResponse

from .. import __version__, i18n
from ..i18n import N_
from ..webpage import pick_language
from .api import ConsoleContext, make_router
from .auth import Gate, password_path

SAFE_METHODS = ("GET", "HEAD", "OPTIONS")


def _known_host(request: Request, names: frozenset[str]) -> bool:
    """The Host header names this box: an IP address, localhost or the box's own name. Anything
    else is a DNS name pointed at the box by someone else (DNS rebinding): a page of that site
    would otherwise be "same origin" with the console."""
    host = (request.headers.get("host") or "").strip().lower()
    if host.startswith("["):  # [::1]:8620
        name = host[1:].split("]", 1)[0]
    elif host.count(":") == 1:  # name:port, 192.168.1.20:8620
        name = host.split(":", 1)[0]
    else:  # a name without port, or a bare IPv6 address
        name = host
    if not name:
        return True  # HTTP/1.0 without Host: no browser sends that
    try:
        ipaddress.ip_address(name)
        return True
    except ValueError:
        return name in names


def box_names() -> frozenset[str]:
    # no DNS lookup (getfqdn): an offline box would wait for it at every start
    short = socket.gethostname().lower()
    return frozenset({"localhost", short, f"{short}.local"})


def _same_origin(request: Request) -> bool:
    if request.method in SAFE_METHODS:
        return True
    if request.headers.get("sec-fetch-site") in ("cross-site", "same-site"):
        return False
    origin = request.headers.get("origin")
    if not origin:
        return True  # not sent by a browser's cross-site form or script (curl, the tests' requests)
    return urlsplit(origin).netloc.lower() == (request.headers.get("host") or "").lower()


def create_app(config_path: str | os.PathLike, *, trusted: Iterable[str] | None = None,
               password_file: str | os.PathLike | None = None) -> FastAPI:
    """The console for the agent that runs on `config_path`.

    trusted: client addresses that skip the login; None: every loopback address.
    password_file: the hashed password (default: `console-password` beside the config)."""
    from . import pages

    config_path = Path(config_path)
    ctx = ConsoleContext(config_path)
    gate = Gate(Path(password_file) if password_file else password_path(config_path), trusted)
    app = FastAPI(title="garbage-edge console", version=__version__, docs_url=None, redoc_url=None,
                  openapi_url=None)
    app.state.console = ctx
    app.state.gate = gate

    names = box_names()

    @app.middleware("http")
    async def same_origin(request: Request, call_next):
        refusal = None
        if not _known_host(request, names):
            refusal = N_("refused: the address asked for is not this box's (use its IP address or localhost)")
        elif not _same_origin(request):
            refusal = N_("refused: the request came from another web site, not from the console's pages")
        if refusal is not None:
            with i18n.language(pick_language(request, "zh")):
                message = i18n._(refusal)
            return JSONResponse({"errors": [{"path": None, "message": message}]}, status_code=403)
        return await call_next(request)

    app.middleware("http")(gate.middleware)  # added last: runs first, before anything else sees the request
    app.include_router(make_router(ctx))
    app.include_router(gate.router)
    app.include_router(pages.router)
    return app
