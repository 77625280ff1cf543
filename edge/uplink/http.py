"""HTTP transport per the platform contract (requests, one keep-alive session).

    POST {base}/v1/incidents               application/json   one incident revision
    PUT  {base}/v1/incidents/{id}/snapshot image/jpeg         its evidence picture
    POST {base}/v1/telemetry               application/json   one telemetry document
    POST {base}/v1/daily                   application/json   one daily statistics document

Every request carries `Authorization: Bearer <token>` and `X-Device-Id`. TLS is verified
(optionally against a custom CA file); `verify_tls: false` works but is logged as a warning.
The token is re-read from its file or credential when the platform answers 401, so a rotated
token is picked up without a restart. The token never appears in logs or in dead letters.
"""
from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import Callable
from urllib.parse import quote

import requests

from ..logfmt import short_error
from ..files import config_relative
from .retry import Outcome, classify, parse_retry_after
from .secrets import read_secret

log = logging.getLogger(__name__)

BODY_KEEP = 2000  # characters of a response body kept for a dead letter


class HttpTransport:
    name = "http"

    def __init__(
        self,
        base_url: str,
        device_id: str,
        token: str | Callable[[], str | None] | None,
        verify: bool | str = True,
        connect_timeout_s: float = 3.0,
        read_timeout_s: float = 10.0,
        session: requests.Session | None = None,
    ):
        self.base_url = base_url.rstrip("/")
        self.device_id = device_id
        self._token_source = token if callable(token) else (lambda: token)
        self._token = self._token_source()
        self.verify = verify
        self.timeout = (connect_timeout_s, read_timeout_s)
        self.session = session or requests.Session()
        # Proxy settings from the environment are read once here, not on every request
        # (requests would re-scan os.environ per call: a third of the CPU of a backlog drain).
        self.session.proxies.update(requests.utils.get_environ_proxies(self.base_url))
        self.session.trust_env = False
        if verify is False:
            log.warning("TLS certificate verification is DISABLED for %s (uplink.http.verify_tls: false)", self.base_url)
            try:
                import urllib3

                urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)  # warned once above
            except Exception:
                pass
        if not self._token:
            log.warning("no platform token configured: requests go without Authorization")

    @classmethod
    def from_config(cls, cfg, base_dir: Path | None = None, allow_missing_token: bool = False) -> "HttpTransport":
        """From the root Config. Raises SecretError when the token cannot be read (unless allowed)."""
        h = cfg.uplink.http

        def token() -> str | None:
            try:
                return read_secret(h.token_file, h.token_credential, base_dir, what="platform token")
            except Exception:
                if allow_missing_token:
                    return None
                raise

        verify: bool | str = h.verify_tls
        if h.verify_tls and h.ca_file:
            verify = str(config_relative(h.ca_file, base_dir))
        return cls(h.base_url, cfg.device.id, token, verify, h.connect_timeout_s, h.read_timeout_s)

    def start(self) -> None:
        pass

    def stop(self) -> None:
        self.session.close()

    @property
    def connected(self) -> bool | None:
        return None  # HTTP has no standing connection to report

    def send(self, kind: str, incident_id: str | None, body: bytes) -> Outcome:
        if kind == "incident":
            return self._request("POST", "/v1/incidents", body, "application/json")
        if kind == "snapshot":
            return self._request("PUT", f"/v1/incidents/{quote(str(incident_id), safe='')}/snapshot", body, "image/jpeg")
        if kind == "telemetry":
            return self._request("POST", "/v1/telemetry", body, "application/json")
        if kind == "daily":
            return self._request("POST", "/v1/daily", body, "application/json")
        raise ValueError(f"unknown item kind {kind!r}")

    def _request(self, method: str, path: str, body: bytes, content_type: str) -> Outcome:
        headers = {"Content-Type": content_type, "X-Device-Id": self.device_id}
        if self._token:
            headers["Authorization"] = f"Bearer {self._token}"
        try:
            r = self.session.request(method, self.base_url + path, data=body, headers=headers,
                                     timeout=self.timeout, verify=self.verify)
        except requests.Timeout as e:
            return Outcome("retry", None, short_error(e))
        except requests.ConnectionError as e:
            return Outcome("retry", None, f"connection error: {_short(e)}")
        except requests.RequestException as e:
            return Outcome("retry", None, f"request error: {_short(e)}")
        kind = classify(r.status_code)
        text = r.text[:BODY_KEEP] if kind != "ok" else ""
        if r.status_code == 401 and self._reload_token():
            return Outcome("retry", 401, "401 with an old token; the token changed, trying again", 0.0)
        return Outcome(kind, r.status_code, text, parse_retry_after(r.headers.get("Retry-After"), time.time()))

    def _reload_token(self) -> bool:
        try:
            fresh = self._token_source()
        except Exception as e:
            log.warning("cannot re-read the platform token: %s", e)
            return False
        if fresh and fresh != self._token:
            log.info("platform token changed; using the new one")
            self._token = fresh
            return True
        return False


def _short(e: Exception) -> str:
    # requests' messages embed nested reprs: a few words for logs and `gedge outbox`
    return short_error(e)
