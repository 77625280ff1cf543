"""Who and where the device is (`device`), when the room is open (`schedule`), where it keeps its data (`storage`)."""
from __future__ import annotations

import datetime as dt
from typing import Literal
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import Field, ValidationInfo, field_validator, model_validator

from ..i18n import _
from .base import Identifier, Section


class Responsible(Section):
    name: str = ""  # the company or person answerable for the point (责任追溯)
    phone: str = ""


class Site(Section):
    # Empty by default for tests and the simulated room; written empty (as the site template does),
    # the community and the point id must be filled in before the file validates.
    community: str = ""
    address: str = ""
    point_id: str = ""
    responsible: Responsible = Responsible()

    @field_validator("community", "point_id")
    @classmethod
    def _filled_in(cls, value: str, info: ValidationInfo) -> str:
        if not value.strip():
            what = _("the community's name") if info.field_name == "community" else _("the city's collection-point id")
            raise ValueError(_("must be set: {what}").format(what=what))
        return value


class Device(Section):
    id: Identifier = "garbage-edge-dev"
    timezone: str = "Asia/Shanghai"
    # language of the `gedge` messages: zh | en | null (the locale's); `--lang` overrides it
    ui_lang: Literal["zh", "en"] | None = None
    site: Site = Site()

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(_("unknown time zone {value!r} (use an IANA name such as Asia/Shanghai)").format(value=value)) from None
        return value


Weekday = Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALL_DAYS: list[Weekday] = ["mon", "tue", "wed", "thu", "fri", "sat", "sun"]


def _clock(value: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(_("expected a time of day HH:MM, got {value!r}").format(value=value)) from None


class OpeningWindow(Section):
    days: list[Weekday] = Field(default_factory=lambda: list(ALL_DAYS))
    start: str = "07:00"
    end: str = "09:00"

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _clock(value)
        return value

    @model_validator(mode="after")
    def _ordered(self) -> "OpeningWindow":
        if _clock(self.start) >= _clock(self.end):
            raise ValueError(_("start {start} must be before end {end}").format(start=self.start, end=self.end))
        return self

    def start_time(self) -> dt.time:
        return _clock(self.start)

    def end_time(self) -> dt.time:
        return _clock(self.end)


class Schedule(Section):
    # 定时定点: the room's opening hours. Empty list = always open.
    opening_hours: list[OpeningWindow] = Field(
        default_factory=lambda: [OpeningWindow(start="07:00", end="09:00"), OpeningWindow(start="18:00", end="20:00")]
    )


class Storage(Section):
    state_dir: str = "/var/lib/garbage-edge"  # outbox database, evidence snapshots
    cache_dir: str = "/var/cache/garbage-edge"  # rendered voice prompts
    # live files (the control socket the console and `gedge status` use); state_dir when missing
    runtime_dir: str = "/run/garbage-edge"
    snapshot_quota_mb: float = Field(200.0, gt=0, le=1_000_000)
    min_free_mb: float = Field(100.0, ge=0, le=1_000_000)
