"""How incidents and telemetry reach the platform. Secrets only by reference."""
from __future__ import annotations

from pydantic import Field, field_validator, model_validator

from ..i18n import _
from .base import PosSeconds, Section, seconds


class Http(Section):
    enabled: bool = True
    base_url: str = "http://127.0.0.1:8730/api"
    token_file: str | None = None  # a file holding the bearer token…
    token_credential: str | None = "platform-token"  # …or a systemd credential (LoadCredential=) of this name
    ca_file: str | None = None  # custom CA bundle for the platform's certificate
    verify_tls: bool = True  # false: logged as a warning at start
    connect_timeout_s: float = seconds(3.0, high=300)
    read_timeout_s: float = seconds(10.0, high=600)

    @field_validator("base_url")
    @classmethod
    def _url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(_("must start with http:// or https://, got {value!r}").format(value=value))
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
    keepalive_s: int = Field(30, ge=5, le=3600)
    topic_prefix: str = "garbage-edge"


class Backoff(Section):
    initial_s: float = seconds(1.0, high=3600)
    max_s: float = seconds(300.0, high=3600)

    @model_validator(mode="after")
    def _order(self) -> "Backoff":
        if self.initial_s > self.max_s:
            raise ValueError(_("initial_s ({initial_s:g}) must not exceed max_s ({max_s:g})").format(initial_s=self.initial_s, max_s=self.max_s))
        return self


class Uplink(Section):
    http: Http = Http()
    mqtt: Mqtt = Mqtt()
    telemetry_s: PosSeconds = 60.0
    telemetry_backlog: int = Field(100, ge=1, le=100_000)  # newest kept when offline
    backoff: Backoff = Backoff()
