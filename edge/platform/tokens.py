"""Per-device tokens: a token names exactly one device; the file keeps only hashes.

File format, one device a line (comments with #):

    hk-jxl-piaoying-03 sha256:9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08

A token is 32 random bytes (url-safe base64); its SHA-256 is enough to store because the
token itself is not guessable (no salt or slow hash needed, unlike a password).
"""
from __future__ import annotations

import hashlib
import hmac
import re
import secrets
import threading
from pathlib import Path

from ..contract import PLATFORM_ID
from ..files import atomic_write

_LINE = re.compile(rf"^(?P<device>{PLATFORM_ID})\s+sha256:(?P<hash>[0-9a-f]{{64}})$")


class TokenFileError(ValueError):
    pass


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def parse_tokens(text: str, name: str = "tokens file") -> dict[str, str]:
    """{hash: device id}; TokenFileError names the bad line."""
    out: dict[str, str] = {}
    for n, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        m = _LINE.match(line)
        if not m:
            raise TokenFileError(f"{name} line {n}: expected 'DEVICE_ID sha256:HEX'")
        out[m["hash"]] = m["device"]
    return out


class TokenBook:
    """Which device a bearer token belongs to. Re-reads the file when it changes (token add/revoke
    while the server runs)."""

    def __init__(self, path: str | Path | None = None, shared_token: str | None = None):
        self.path = Path(path) if path else None
        self.shared_token = shared_token  # development: one token for every device
        self._hashes: dict[str, str] = {}
        self._mtime: float | None = None
        self._lock = threading.Lock()
        if self.path is not None:
            self._reload(force=True)

    @property
    def open(self) -> bool:
        """No tokens at all: anyone may post (development only)."""
        return self.path is None and self.shared_token is None

    def _reload(self, force: bool = False) -> None:
        try:
            mtime = self.path.stat().st_mtime_ns
        except FileNotFoundError:
            mtime = None
        if not force and mtime == self._mtime:
            return
        text = self.path.read_text(encoding="utf-8") if mtime is not None else ""
        self._hashes, self._mtime = parse_tokens(text, str(self.path)), mtime

    def device_of(self, token: str) -> str | None:
        """The device id this token belongs to, "*" for the shared development token, else None."""
        if self.shared_token is not None and hmac.compare_digest(token.encode(), self.shared_token.encode()):
            return "*"
        if self.path is None:
            return None
        with self._lock:
            try:
                self._reload()
            except (OSError, TokenFileError):
                pass  # keep the last good set while the file is being rewritten
            return self._hashes.get(token_hash(token))  # dict lookup on a hash: no timing on the token


def add_token(path: str | Path, device_id: str) -> str:
    """Create a token for device_id (replacing any earlier one), store its hash, return the token."""
    if not _LINE.match(f"{device_id} sha256:{'0' * 64}"):
        raise TokenFileError(f"not a device id: {device_id!r}")
    path = Path(path)
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    parse_tokens(text, str(path))  # refuse to extend a damaged file
    kept = [ln for ln in text.splitlines() if not ln.strip().startswith(device_id + " ")]
    token = secrets.token_urlsafe(32)
    kept.append(f"{device_id} sha256:{token_hash(token)}")
    write_private(path, "\n".join(kept) + "\n")
    return token


def revoke_token(path: str | Path, device_id: str) -> bool:
    path = Path(path)
    if not path.exists():
        return False
    text = path.read_text(encoding="utf-8")
    parse_tokens(text, str(path))
    lines = text.splitlines()
    kept = [ln for ln in lines if not ln.strip().startswith(device_id + " ")]
    if len(kept) == len(lines):
        return False
    write_private(path, "\n".join(kept) + ("\n" if kept else ""))
    return True


def write_private(path: Path, text: str) -> None:
    """The tokens or users file, mode 0600, through the one atomic write."""
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write(path, text, mode=0o600)
