"""How incidents and telemetry reach the platform. Secrets only by reference."""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from .base import PosSeconds, Section


class Http(Section):
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8730/api"
    token_file: str | None = None  # a file holding the bearer token…
    token_credential: str | None = "platform-token"  # …or a systemd credential (LoadCredential=) of this name
    ca_file: str | None = None  # custom CA bundle for the platform's certificate
    verify_tls: bool = True  # false: logged as a warning at start
    connect_timeout_s: PosSeconds = 3.0
    read_timeout_s: PosSeconds = 10.0

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"must start with http:// or https://, got {value!r}")
        return value.rstrip("/")


class Mqtt(Section):
    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(1883, gt=0, lt=65536)
    username: str | None = None
    password_file: str | None = None
    password_credential: str | None = None
    tls: bool = False
    ca_file: str | None = None
    keepalive_s: int = Field(30, ge=5)
    topic_prefix: str = "garbage-edge"


class Backoff(Section):
    initial_s: PosSeconds = 1.0
    max_s: PosSeconds = 300.0

    @model_validator(mode="after")
    def _order(self) -> "Backoff":
        if self.initial_s > self.max_s:
            raise ValueError(f"initial_s ({self.initial_s:g}) must not exceed max_s ({self.max_s:g})")
        return self


class Uplink(Section):
    http: Http = Http()
    mqtt: Mqtt = Mqtt()
    telemetry_s: PosSeconds = 60.0
    telemetry_backlog: int = Field(100, ge=1)  # newest kept when offline
    backoff: Backoff = Backoff()
