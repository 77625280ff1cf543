"""The uplink to the platform (contract: platform-api, `garbage-edge/incident@1`).

- retry.py      pure: response classification, backoff with jitter, Retry-After
- secrets.py    token / password from a file or a systemd credential
- http.py       HTTP transport (requests, keep-alive session)
- mqtt.py       MQTT transport (paho-mqtt 2.x; imported only when enabled)
- worker.py     `Uplink`: the thread(s) that drain the outbox
- telemetry.py  pure: telemetry document builder and schedule
- sysinfo.py    free disk, CPU temperature, uptime
"""
from .retry import Outcome, RetrySchedule, classify, parse_retry_after
from .secrets import SecretError, read_secret
from .telemetry import TELEMETRY_SCHEMA, TelemetrySchedule, build_telemetry
from .worker import Uplink

__all__ = [
    "Outcome",
    "RetrySchedule",
    "SecretError",
    "TELEMETRY_SCHEMA",
    "TelemetrySchedule",
    "Uplink",
    "build_telemetry",
    "classify",
    "parse_retry_after",
    "read_secret",
]
