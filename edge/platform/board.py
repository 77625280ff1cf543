"""The board (一屏观分类): one page behind a login, in Chinese or English.

    GET  /board                     open and recent incidents per site with their pictures,
                                    fill and odor over the last day, daily statistics, each
                                    box's last telemetry and health
    GET  /board/picture/{id}/{role} the opening ('open') or resolving ('resolve') picture
    GET/POST /board/login, POST /board/logout
    GET  /board/static/…            bundled CSS (no CDN: small platforms are often offline)

Logins come from a users file (`gedge receiver user add NAME`): one `name scrypt:…` line each.
A session is an HMAC-signed cookie (key made per server start: a restart logs everyone out).
The language is `?lang=zh|en`, then the `lang` cookie, then the browser's Accept-Language.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
import threading
import time
from pathlib import Path

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.staticfiles import StaticFiles

from ..webpage import Pages, page_response, pick_language, read_form
from . import board_view
from .tokens import write_private

HERE = Path(__file__).parent
SESSION_COOKIE = "gedge_board"
SESSION_S = 12 * 3600
_USER = re.compile(r"^(?P<name>[A-Za-z0-9][A-Za-z0-9_.@-]{0,63})\s+scrypt:(?P<n>\d+):(?P<r>\d+):(?P<p>\d+):"
                   r"(?P<salt>[0-9a-f]{32}):(?P<hash>[0-9a-f]{64})$")
_SCRYPT = (2**14, 8, 1)


class UserFileError(ValueError):
    pass


def _hash_password(password: str, salt: bytes, n: int, r: int, p: int) -> str:
    return hashlib.scrypt(password.encode(), salt=salt, n=n, r=r, p=p, dklen=32, maxmem=64 * 1024 * 1024).hex()


def _read_users(path: Path) -> dict[str, re.Match]:
    users = {}
    if not path.exists():
        return users
    for i, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _USER.match(line)
        if not m:
            raise UserFileError(f"{path} line {i}: expected 'NAME scrypt:N:R:P:SALT:HASH'")
        users[m["name"]] = m
    return users


def add_user(path: str | Path, name: str, password: str) -> None:
    path = Path(path)
    if not _USER.match(f"{name} scrypt:1:1:1:{'0' * 32}:{'0' * 64}"):
        raise UserFileError(f"not a user name: {name!r}")
    users = _read_users(path)
    salt = secrets.token_bytes(16)
    n, r, p = _SCRYPT
    users[name] = None  # type: ignore[assignment]
    lines = [m.group(0) if m is not None else f"{name} scrypt:{n}:{r}:{p}:{salt.hex()}:{_hash_password(password, salt, n, r, p)}"
             for m in users.values()]
    write_private(path, "\n".join(lines) + "\n")


def remove_user(path: str | Path, name: str) -> bool:
    path = Path(path)
    users = _read_users(path)
    if users.pop(name, None) is None:
        return False
    write_private(path, "".join(m.group(0) + "\n" for m in users.values()))
    return True


class UserBook:
    def __init__(self, path: str | Path):
        self.path = Path(path)
        _read_users(self.path)  # a damaged file fails at start, not at the first login
        self._lock = threading.Lock()

    def check(self, name: str, password: str) -> bool:
        with self._lock:
            try:
                m = _read_users(self.path).get(name)
            except (OSError, UserFileError):
                m = None
        if m is None:
            # spend the same time as for a real user: no hint which names exist
            _hash_password(password, b"0" * 16, *_SCRYPT)
            return False
        got = _hash_password(password, bytes.fromhex(m["salt"]), int(m["n"]), int(m["r"]), int(m["p"]))
        return hmac.compare_digest(got, m["hash"])


class Sessions:
    def __init__(self, key: bytes | None = None):
        self.key = key or secrets.token_bytes(32)

    def issue(self, name: str, now: float) -> str:
        payload = f"{name}|{int(now + SESSION_S)}"
        sig = hmac.new(self.key, payload.encode(), hashlib.sha256).hexdigest()
        return base64.urlsafe_b64encode(f"{payload}|{sig}".encode()).decode()

    def user(self, cookie: str | None, now: float) -> str | None:
        if not cookie or len(cookie) > 512:
            return None
        try:
            name, expiry, sig = base64.urlsafe_b64decode(cookie.encode()).decode().split("|")
        except (ValueError, UnicodeDecodeError):
            return None
        want = hmac.new(self.key, f"{name}|{expiry}".encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(sig, want) or not expiry.isdigit() or int(expiry) < now:
            return None
        return name


_PAGES = Pages(HERE / "templates")
render = _PAGES.render


def mount_board(app, server) -> None:
    sessions = Sessions()
    app.mount("/board/static", StaticFiles(directory=str(HERE / "static")), name="board-static")

    page = page_response

    def who(request: Request) -> str | None:
        return sessions.user(request.cookies.get(SESSION_COOKIE), time.time())

    @app.get("/board/login", include_in_schema=False)
    async def login_form(request: Request):
        lang = pick_language(request)
        return page(request, render("login.html", lang, error=None, closed=server.board_users is None), lang)

    @app.post("/board/login", include_in_schema=False)
    async def login(request: Request):
        lang = pick_language(request)
        if server.board_users is None:
            return page(request, render("login.html", lang, error=None, closed=True), lang, 403)
        form = await read_form(request)
        if form is None:
            return Response(status_code=413)
        name, password = form.get("name", ""), form.get("password", "")
        if not await run_in_threadpool(server.board_users.check, name, password):
            return page(request, render("login.html", lang, error=True, closed=False), lang, 401)
        resp = RedirectResponse("/board", status_code=303)
        resp.set_cookie(SESSION_COOKIE, sessions.issue(name, time.time()), max_age=SESSION_S, httponly=True,
                        samesite="strict")
        return resp

    @app.post("/board/logout", include_in_schema=False)
    async def logout(request: Request):
        resp = RedirectResponse("/board/login", status_code=303)
        resp.delete_cookie(SESSION_COOKIE)
        return resp

    @app.get("/board", include_in_schema=False)
    async def board(request: Request):
        user = who(request)
        if user is None:
            return RedirectResponse("/board/login", status_code=303)
        lang = pick_language(request)
        now = time.time()
        view = await run_in_threadpool(_view, server.store, now)
        return page(request, render("board.html", lang, user=user, now=board_view.when(now), **view), lang)

    @app.get("/board/picture/{incident_id}/{role}", include_in_schema=False)
    async def picture(incident_id: str, role: str, request: Request):
        if who(request) is None:
            return Response(status_code=401)
        if role not in ("open", "resolve"):
            return Response(status_code=404)
        data = await run_in_threadpool(server.store.snapshot, incident_id, role)
        if data is None:
            return Response(status_code=404)
        return Response(data, media_type="image/jpeg", headers={"cache-control": "private, max-age=3600"})


def _view(store, now: float) -> dict:
    incidents = store.incidents(since=now - board_view.DAY_S) + store.incidents(open_only=True)
    unique = {r["doc"].get("id") if isinstance(r["doc"], dict) else id(r): r for r in incidents}
    telemetry = store.telemetry(limit=20000, since=now - board_view.DAY_S)
    return {"sites": board_view.incidents_by_site(list(unique.values()), now),
            "plots": board_view.plots(telemetry, now),
            "health": board_view.latest_health(telemetry or store.telemetry(limit=200)),
            "daily": board_view.daily_rows(store.daily(limit=500))}


__all__ = ["UserBook", "UserFileError", "add_user", "remove_user", "mount_board"]
