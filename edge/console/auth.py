"""Who may use the console: loopback clients always, anyone else after the console password.

    gedge console passwd                 # asks twice; stores a scrypt hash beside the config
    gate = Gate(password_file, trusted=None)   # None: every loopback address skips the login
    app.middleware("http")(gate.middleware); app.include_router(gate.router)

The password is kept as one line of the receiver board's users file format (`console scrypt:…`,
the same hashing: edge.platform.board), mode 0600. A login gives a session: an HMAC-signed
cookie (httponly, SameSite=Strict) naming its expiry, signed with a key made at each start of the
console (a restart logs everyone out). Nothing secret goes to the page: not the hash, not the key.

The client's address is the TCP peer's: the console trusts no X-Forwarded-For (uvicorn runs
with proxy_headers off), so a LAN client cannot pass for loopback.
"""
from __future__ import annotations

import ipaddress
import os
import time
from pathlib import Path
from typing import Iterable
from urllib.parse import quote

from fastapi import APIRouter
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from .. import i18n
from ..platform.board import SESSION_S, Sessions, UserBook, add_user
from ..webpage import pick_language, read_form

PASSWORD_FILE = "console-password"  # beside the config file: /etc/garbage-edge/console-password
USER = "console"  # the one login the console knows
SESSION_COOKIE = "gedge_console"
MIN_PASSWORD = 8
# wrong passwords from one address: after this many within the window, that address's logins
# are refused unchecked until the window has passed (guessing costs hours, a typo costs nothing)
MAX_FAILURES, FAILURE_WINDOW_S = 10, 300.0
# reachable without a login: the login itself, the page assets, and "is it up"
OPEN_PATHS = ("/login", "/api/health")
OPEN_PREFIXES = ("/static/",)


def password_path(config_path: str | os.PathLike) -> Path:
    return Path(config_path).parent / PASSWORD_FILE


def has_password(path: Path) -> bool:
    """A password is set: the file exists, holds a line and reads as a users file."""
    try:
        UserBook(path)  # a damaged file counts as none: the console then stays on loopback
        return path.is_file() and path.stat().st_size > 0
    except (OSError, ValueError):
        return False


def set_password(path: Path, password: str) -> None:
    """Store the password's hash (replacing any before). Run as root for /etc/garbage-edge: the
    file then goes to the owner and group of its folder, so the console's service user reads it."""
    if len(password) < MIN_PASSWORD:
        raise ValueError(f"the password needs at least {MIN_PASSWORD} characters")
    add_user(path, USER, password)  # replaces the console's line, in one atomic write
    if os.geteuid() == 0:
        folder = path.parent.stat()
        os.chown(path, folder.st_uid, folder.st_gid)


def is_loopback(host: str | None) -> bool:
    if not host:
        return False
    try:
        return ipaddress.ip_address(host.split("%")[0]).is_loopback
    except ValueError:
        return False


class Gate:
    """The login gate (a middleware) and its routes (POST /login, POST /logout).

    trusted: None: every loopback client skips the login; an iterable: exactly these client
    addresses do (a test passes () to see the login on 127.0.0.1)."""

    def __init__(self, password_file: Path, trusted: Iterable[str] | None = None):
        self.password_file = Path(password_file)
        self.trusted = None if trusted is None else frozenset(trusted)
        self.sessions = Sessions()
        self._failures: dict[str, list[float]] = {}
        self.router = APIRouter(include_in_schema=False)
        self.router.add_api_route("/login", self.login, methods=["POST"])
        self.router.add_api_route("/logout", self.logout, methods=["POST"])

    def skips_login(self, host: str | None) -> bool:
        return is_loopback(host) if self.trusted is None else host in self.trusted

    def user(self, request: Request, now: float | None = None) -> str | None:
        return self.sessions.user(request.cookies.get(SESSION_COOKIE), time.time() if now is None else now)

    async def middleware(self, request: Request, call_next):
        path = request.url.path
        request.state.user = self.user(request)
        host = request.client.host if request.client else None
        if (request.state.user is not None or self.skips_login(host) or path in OPEN_PATHS
                or path.startswith(OPEN_PREFIXES)):
            return await call_next(request)
        if path.startswith("/api/"):
            with i18n.language(pick_language(request, "zh")):
                message = i18n._("log in first: the console asks for its password off this box")
            return JSONResponse({"errors": [{"path": None, "message": message}]}, status_code=401)
        target = path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/login?next={quote(target, safe='/')}", status_code=303)

    async def login(self, request: Request):
        form = await read_form(request)
        if form is None:
            return Response(status_code=413)
        nxt = form.get("next", "/")
        if not nxt.startswith("/") or nxt.startswith("//") or "\\" in nxt:
            nxt = "/"
        host = request.client.host if request.client else ""
        now = time.monotonic()
        recent = [t for t in self._failures.get(host, []) if now - t < FAILURE_WINDOW_S]
        if len(recent) >= MAX_FAILURES or not await run_in_threadpool(self._check, form.get("password", "")):
            self._failures[host] = (recent + [now])[-MAX_FAILURES:]
            if len(self._failures) > 1000:  # bounded: forget the address that failed longest ago
                del self._failures[min(self._failures, key=lambda h: self._failures[h][-1])]
            return RedirectResponse(f"/login?failed=1&next={quote(nxt, safe='/')}", status_code=303)
        self._failures.pop(host, None)
        resp = RedirectResponse(nxt, status_code=303)
        resp.set_cookie(SESSION_COOKIE, self.sessions.issue(USER, time.time()), max_age=SESSION_S, httponly=True,
                        samesite="strict")
        return resp

    async def logout(self, request: Request):
        resp = RedirectResponse("/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    def _check(self, password: str) -> bool:
        try:
            book = UserBook(self.password_file)
        except (OSError, ValueError):
            return False
        return self.password_file.is_file() and book.check(USER, password)
