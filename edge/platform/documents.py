"""The contract's documents (platform-api.md) as pydantic models, and a strict JSON reader.

The server validates every document against these models (they are also what its OpenAPI
description publishes), so anything stored is something `gedge receiver list` and the board
can show: bounded strings without control characters, finite numbers, revisions that fit a
64-bit integer, the schema name of the contract.
"""
from __future__ import annotations

import datetime as dt
import json
from typing import Annotated, Any, Literal, Union

from pydantic import BaseModel, ConfigDict, Field, StrictInt, TypeAdapter, field_validator, model_validator

from ..contract import (DAILY_SCHEMA, INCIDENT_SCHEMA, INCIDENT_TYPES, ONE_SHOT_TYPES, PLATFORM_ID_PATTERN, SEEN_BY,
                        SEVERITIES, STATES, TELEMETRY_SCHEMA, WASTE_TYPES)

MAX_DEPTH = 32  # nesting deeper than any contract document needs
MAX_REV = 2**63 - 1  # fits SQLite's and PostgreSQL's BIGINT
NO_CONTROL = r"^[^\x00-\x1f\x7f-\x9f]*$"  # no raw control characters reach a terminal or a page

Identifier = Annotated[str, Field(pattern=PLATFORM_ID_PATTERN)]
IncidentId = Annotated[str, Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")]
Text = Annotated[str, Field(max_length=200, pattern=NO_CONTROL)]
Name = Annotated[str, Field(min_length=1, max_length=64, pattern=NO_CONTROL)]
Finite = Annotated[float, Field(allow_inf_nan=False, ge=-1e12, le=1e12)]
Count = Annotated[StrictInt, Field(ge=0, le=10**9)]
_DATE = r"\d{4}-(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])"
Timestamp = Annotated[str, Field(max_length=40, pattern=rf"^{_DATE}T([01]\d|2[0-3]):[0-5]\d:[0-5]\d(\.\d{{1,9}})?"
                                                        r"(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$")]
Scalar = Union[StrictInt, Finite, Text, bool, None]


class _Doc(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, allow_inf_nan=False)


def _check_time(value: str | None) -> str | None:
    if value is not None:
        dt.datetime.fromisoformat(value.replace("Z", "+00:00"))  # ValueError: e.g. month 13
    return value


class Responsible(_Doc):
    name: Text = ""
    phone: Text = ""


class Site(_Doc):
    community: Text = ""
    point_id: Text = ""
    address: Text = ""
    responsible: Responsible = Responsible()


class Subject(_Doc):
    zone: Identifier | None = None
    bin_id: Identifier | None = None
    sensor_id: Identifier | None = None


class Snapshot(_Doc):
    sha256: Annotated[str, Field(pattern=r"^[0-9a-f]{64}$")]
    bytes: Annotated[StrictInt, Field(ge=1, le=16 * 1024 * 1024)]
    content_type: Literal["image/jpeg"] = "image/jpeg"


class Incident(_Doc):
    """`garbage-edge/incident@1`."""

    schema_: Literal[INCIDENT_SCHEMA] = Field(alias="schema")
    id: IncidentId
    rev: Annotated[StrictInt, Field(ge=1, le=MAX_REV)]
    device_id: Identifier
    type: Literal[INCIDENT_TYPES]  # type: ignore[valid-type]
    state: Literal[STATES]  # type: ignore[valid-type]
    severity: Literal[SEVERITIES]  # type: ignore[valid-type]
    opened_at: Timestamp
    updated_at: Timestamp
    resolved_at: Timestamp | None = None
    site: Site
    subject: Subject
    measurements: Annotated[dict[Name, Scalar], Field(max_length=32)]
    reminders: Count = 0
    snapshot: Snapshot | None = None

    @field_validator("opened_at", "updated_at", "resolved_at")
    @classmethod
    def _real_time(cls, v: str | None) -> str | None:
        return _check_time(v)

    @model_validator(mode="after")
    def _consistent(self) -> "Incident":
        if self.state == "resolved" and self.resolved_at is None:
            raise ValueError("a resolved incident needs resolved_at")
        if self.state == "open" and self.resolved_at is not None:
            raise ValueError("an open incident has resolved_at null")
        if self.type in ONE_SHOT_TYPES and self.state != "resolved":
            raise ValueError(f"{self.type} is a one-shot event: created with state resolved")
        seen = self.measurements.get("seen_by")
        if seen is not None and seen not in SEEN_BY:
            raise ValueError(f"measurements.seen_by must be one of {', '.join(SEEN_BY)}")
        return self


LongText = Annotated[str, Field(max_length=1000, pattern=NO_CONTROL)]
HealthScalar = Union[StrictInt, Finite, LongText, bool, None]
HealthValue = Union[HealthScalar, Annotated[dict[Name, Union[HealthScalar, Annotated[dict[Name, HealthScalar], Field(
    max_length=64)]]], Field(max_length=64)]]
_HEALTH_EXTRA = TypeAdapter(Annotated[dict[Name, HealthValue], Field(max_length=64)])


class Health(BaseModel):
    """The contract's keys, typed; the agent's further keys (counters, storage, voice, ...) may be
    two levels deep, and are bounded and checked like the rest."""

    model_config = ConfigDict(extra="allow", allow_inf_nan=False)

    uptime_s: Finite | None = None
    camera: Text | None = None
    sensors: Annotated[dict[Name, Text], Field(max_length=64)] = {}
    outbox_pending: Count | None = None
    dead_letters: Count | None = None
    disk_free_mb: Finite | None = None
    cpu_temp_c: Finite | None = None

    @model_validator(mode="after")
    def _bounded_extra(self) -> "Health":
        _HEALTH_EXTRA.validate_python(self.model_extra or {})
        return self


class Telemetry(_Doc):
    """`garbage-edge/telemetry@1`. `health` may carry more keys than the contract names (bounded)."""

    schema_: Literal[TELEMETRY_SCHEMA] = Field(alias="schema")
    device_id: Identifier
    sent_at: Timestamp
    readings: Annotated[dict[Name, Annotated[dict[Name, Scalar], Field(max_length=32)]], Field(max_length=64)]
    health: Health

    @field_validator("sent_at")
    @classmethod
    def _real_time(cls, v: str) -> str:
        return _check_time(v)


class DailyBin(_Doc):
    waste_type: Literal[WASTE_TYPES]  # type: ignore[valid-type]
    capacity_l: Annotated[Finite, Field(ge=0)]
    added_l: Annotated[Finite, Field(ge=0)]
    added_kg_est: Annotated[Finite, Field(ge=0)]
    emptied: Count
    full_minutes: Annotated[Finite, Field(ge=0, le=1440)]


class DailyWaste(_Doc):
    added_l: Annotated[Finite, Field(ge=0)]
    added_kg_est: Annotated[Finite, Field(ge=0)]


class DailyIncidents(_Doc):
    opened: Count
    resolved: Count
    median_open_s: Annotated[Finite, Field(ge=0)] | None = None


class Coverage(_Doc):
    fill_data_minutes: Annotated[Finite, Field(ge=0, le=1440)]
    camera_ok_minutes: Annotated[Finite, Field(ge=0, le=1440)]


class Daily(_Doc):
    """`garbage-edge/daily@1`: one per (device_id, date)."""

    schema_: Literal[DAILY_SCHEMA] = Field(alias="schema")
    device_id: Identifier
    date: Annotated[str, Field(pattern=rf"^{_DATE}$")]
    bins: Annotated[dict[Identifier, DailyBin], Field(max_length=64)]
    by_waste_type: dict[Literal[WASTE_TYPES], DailyWaste] = {}  # type: ignore[valid-type]
    incidents: dict[Literal[INCIDENT_TYPES], DailyIncidents] = {}  # type: ignore[valid-type]
    reminders: Count = 0
    coverage: Coverage

    @field_validator("date")
    @classmethod
    def _real_date(cls, v: str) -> str:
        dt.date.fromisoformat(v)
        return v


# one valid document of each kind (those of platform-api.md), published in the OpenAPI description
EXAMPLES: dict[str, dict[str, Any]] = {
    "Incident": {
        "schema": INCIDENT_SCHEMA, "id": "6f1c0a52-0d3e-4a53-9b8e-2f0f6c1d9a10", "rev": 2,
        "device_id": "hk-jxl-piaoying-03", "type": "bag_outside_bin", "state": "resolved", "severity": "warning",
        "opened_at": "2026-11-28T19:02:11.412+08:00", "updated_at": "2026-11-28T19:09:40.003+08:00",
        "resolved_at": "2026-11-28T19:09:40.003+08:00",
        "site": {"community": "飘鹰居民区", "point_id": "HK-JXL-0317", "address": "示例路 1 号",
                 "responsible": {"name": "示例物业", "phone": "021-00000000"}},
        "subject": {"zone": "floor", "bin_id": None, "sensor_id": None},
        "measurements": {"dwell_s": 449.0, "count": 1, "seen_by": "detector"}, "reminders": 1,
        "snapshot": {"sha256": "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08", "bytes": 48213,
                     "content_type": "image/jpeg"}},
    "Telemetry": {
        "schema": TELEMETRY_SCHEMA, "device_id": "hk-jxl-piaoying-03", "sent_at": "2026-11-28T19:02:12.001+08:00",
        "readings": {"bin-1": {"fill_pct": 72.5}, "odor-1": {"nh3_ppm": 3.1, "h2s_ppm": 0.02}},
        "health": {"uptime_s": 86400, "camera": "ok", "sensors": {"bin-1": "ok"}, "outbox_pending": 0,
                   "dead_letters": 0, "disk_free_mb": 5120, "cpu_temp_c": 51.2}},
    "Daily": {
        "schema": DAILY_SCHEMA, "device_id": "hk-jxl-piaoying-03", "date": "2026-11-28",
        "bins": {"bin-1": {"waste_type": "wet", "capacity_l": 240, "added_l": 410.5, "added_kg_est": 246.3,
                           "emptied": 2, "full_minutes": 35}},
        "by_waste_type": {"wet": {"added_l": 410.5, "added_kg_est": 246.3}},
        "incidents": {"bag_outside_bin": {"opened": 5, "resolved": 5, "median_open_s": 380}},
        "reminders": 7, "coverage": {"fill_data_minutes": 1420, "camera_ok_minutes": 1438}},
}


class BadDocument(ValueError):
    """A body that is not a contract document; str() is the reason sent back (400/422)."""


def _no_constant(name: str) -> Any:
    raise BadDocument(f"{name} is not JSON (numbers must be finite)")


def parse_json(body: bytes) -> dict[str, Any]:
    """A JSON object from a UTF-8 body (RFC 8259), or BadDocument with the reason."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as e:
        raise BadDocument(f"body is not UTF-8 JSON ({e.reason} at byte {e.start})") from None
    if text.startswith("\ufeff"):
        raise BadDocument("body starts with a byte-order mark: send plain UTF-8 JSON")
    # brackets bound the depth before the parser recurses
    if text.count("[") + text.count("{") > MAX_DEPTH and _bracket_depth(text) > MAX_DEPTH:
        raise BadDocument(f"JSON nested deeper than {MAX_DEPTH} levels")
    try:
        doc = json.loads(text, parse_constant=_no_constant)
    except BadDocument:
        raise
    except (ValueError, RecursionError) as e:
        raise BadDocument(f"invalid JSON: {e}") from None
    if not isinstance(doc, dict):
        raise BadDocument("expected a JSON object")
    # lone surrogates and overflowing numbers (1e999 -> inf) are refused by the models' str and
    # finite-float types, which every value of a document passes through
    return doc


def _bracket_depth(text: str) -> int:
    depth = deepest = 0
    in_str = esc = False
    for ch in text:
        if in_str:
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            deepest = max(deepest, depth)
        elif ch in "]}":
            depth -= 1
    return deepest


def reason(exc: Exception) -> str:
    """A short, single-line reason for a pydantic ValidationError (first few problems)."""
    errors = getattr(exc, "errors", None)
    if not callable(errors):
        return str(exc)
    parts = []
    for e in exc.errors()[:5]:
        loc = ".".join(str(p) for p in e.get("loc", ()))
        parts.append(f"{loc}: {e.get('msg')}" if loc else str(e.get("msg")))
    return "; ".join(parts)[:1000]
