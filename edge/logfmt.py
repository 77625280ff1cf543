"""Log lines a person can read in `journalctl -u garbage-edge`: one line per event, no Python
dicts, network errors in a few words, and time stamps when journald does not add its own.

Logs stay English and grep-able (`grep 'incident bag_outside_bin'`); only the wording lives
here, the code that logs decides when.
"""
from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from typing import Any

# journald stamps every line itself; anywhere else (a terminal, a file) the line carries the time
JOURNAL_FORMAT = "%(levelname)s %(name)s: %(message)s"
PLAIN_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
MAX_ERROR_CHARS = 120


def log_format(environ: Mapping[str, str] | None = None) -> str:
    """The logging format: without time stamps under systemd (JOURNAL_STREAM set), else with."""
    env = os.environ if environ is None else environ
    return JOURNAL_FORMAT if env.get("JOURNAL_STREAM") else PLAIN_FORMAT


def value_text(value: Any) -> str:
    """A value as it reads in `key=value`: no quotes unless it has spaces, numbers short."""
    if isinstance(value, bool) or value is None:
        return json.dumps(value)
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, (list, tuple)):
        return ",".join(value_text(v) for v in value) or "-"
    if isinstance(value, Mapping):
        return ",".join(f"{k}:{value_text(v)}" for k, v in value.items()) or "-"
    text = str(value)
    if not text or any(ch.isspace() for ch in text) or "=" in text:
        return json.dumps(text, ensure_ascii=False)
    return text


def pairs(values: Mapping[str, Any], skip: tuple[str, ...] = ()) -> str:
    """`k=v k2=v2` for the values that are set (None is left out: it says nothing)."""
    return " ".join(f"{k}={value_text(v)}" for k, v in values.items() if k not in skip and v is not None)


def incident_line(event: Mapping[str, Any]) -> str:
    """`incident bag_outside_bin open rev 1 id=…: zone=floor dwell_s=61 count=1 snapshot=ab12cd34ef56`."""
    head = f"incident {event.get('type')} {event.get('state')} rev {event.get('rev')} id={event.get('id')}"
    details = []
    subject = event.get("subject")
    if isinstance(subject, Mapping):
        details.append(pairs(subject))
    measurements = event.get("measurements")
    if isinstance(measurements, Mapping):
        details.append(pairs(measurements))
    snapshot = event.get("snapshot")
    if isinstance(snapshot, Mapping) and snapshot.get("sha256"):
        details.append(f"snapshot={str(snapshot['sha256'])[:12]}")
    tail = " ".join(d for d in details if d)
    return f"{head}: {tail}" if tail else head


def event_line(event: Mapping[str, Any]) -> str:
    """One line for anything the agent reports (incident, voice, relay, notes)."""
    what = event.get("what")
    if what == "incident":
        return incident_line(event)
    if what == "relay":
        state = "on" if event.get("on") else "off"
        rest = pairs(event, skip=("what", "id", "on"))
        return f"relay {event.get('id')} {state}" + (f" {rest}" if rest else "")
    if what == "voice":
        rest = pairs(event, skip=("what", "prompt", "text"))
        return f"voice {event.get('prompt')}" + (f" {rest}" if rest else "")
    rest = pairs(event, skip=("what", "measurements", "snapshot", "text"))
    return f"{what} {rest}".strip() if what else rest


# -- the uplink -------------------------------------------------------------------------------

# the few words that matter in requests' / urllib3's nested messages, most specific first
_CAUSES = (
    (re.compile(r"Connection refused", re.I), "connection refused"),
    (re.compile(r"Name or service not known|nodename nor servname|Temporary failure in name resolution|"
                r"getaddrinfo failed|No address associated", re.I), "host name not found (DNS)"),
    (re.compile(r"Network is unreachable", re.I), "network unreachable"),
    (re.compile(r"No route to host", re.I), "no route to host"),
    (re.compile(r"CERTIFICATE_VERIFY_FAILED|certificate verify failed", re.I), "TLS certificate not trusted"),
    (re.compile(r"SSLError|SSL:|TLS", re.I), "TLS error"),
    (re.compile(r"Connection reset by peer|ConnectionResetError", re.I), "connection reset"),
    (re.compile(r"RemoteDisconnected|closed connection without response|Connection aborted", re.I),
     "the server closed the connection"),
    (re.compile(r"Read timed out|ReadTimeout", re.I), "no answer in time (read timeout)"),
    (re.compile(r"timed out|ConnectTimeout|timeout", re.I), "timed out connecting"),
)
_HOST_PORT = re.compile(r"host='([^']+)', port=(\d+)")


def short_error(error: BaseException | str) -> str:
    """A network error in a few words: `connection refused (10.0.0.5:8443)`, not urllib3's
    300-character `HTTPConnectionPool(host=…): Max retries exceeded … (Caused by …)`."""
    text = error if isinstance(error, str) else f"{type(error).__name__}: {error}"
    where = _HOST_PORT.search(text)
    at = f" ({where.group(1)}:{where.group(2)})" if where else ""
    for pattern, words in _CAUSES:
        if pattern.search(text):
            return words + at
    return clip(text)


def clip(text: str, limit: int = MAX_ERROR_CHARS) -> str:
    """One line of at most `limit` characters (whitespace runs, newlines included, become one space)."""
    flat = " ".join(str(text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def retry_line(dest: str, error: str, attempt: int, delay_s: float) -> str:
    """`uplink http: incident 8f3c… rev 2: connection refused (10.0.0.5:8443); retry 3 in 8.0 s`."""
    return f"uplink {dest}: {clip(error, 2 * MAX_ERROR_CHARS)}; retry {attempt} in {delay_s:.1f} s"


def recovered_line(dest: str, failures: int, down_s: float) -> str:
    """Said once when a destination that was failing takes a delivery again."""
    tries = "1 failed try" if failures == 1 else f"{failures} failed tries"
    return f"uplink {dest}: delivering again after {tries} over {_duration(down_s)}"


def _duration(seconds: float) -> str:
    seconds = max(0.0, seconds)
    if seconds < 90:
        return f"{seconds:.0f} s"
    if seconds < 5400:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
