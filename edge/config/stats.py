"""Daily statistics and collection supervision (`stats`): densities, the accounting's noise
marks, when the daily document goes, and each bin's collection schedule (清运)."""
from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..contract import WASTE_TYPES
from ..i18n import _
from .base import Identifier, PosSeconds, Section, seconds

WasteType = Literal[WASTE_TYPES]  # type: ignore[valid-type]

# Bulk densities of loose waste in a bin, kg per litre: US EPA, Office of Resource Conservation
# and Recovery, "Volume-to-Weight Conversion Factors" (April 2016): food scraps 396 lb/yd3,
# trash 138 lb/yd3, mixed recyclables 58 lb/yd3 (1 lb/yd3 = 0.000593 kg/L). Hazardous waste
# (batteries, lamps, medicines) has no factor there: 0.3 is a placeholder to set from a weighing.
DEFAULT_DENSITIES = {"wet": 0.235, "dry": 0.082, "recyclable": 0.034, "hazardous": 0.3}


def _clock(value: str) -> dt.time:
    try:
        return dt.time.fromisoformat(value)
    except ValueError:
        raise ValueError(_("expected a time of day HH:MM, got {value!r}").format(value=value)) from None


class DailyDocument(Section):
    send_at: str = "00:30"  # the day before goes to the platform after this local time
    keep_days: int = Field(14, ge=1, le=366)  # days kept on the box (`gedge stats --day`) and sent late at most

    @field_validator("send_at")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _clock(value)
        return value

    def send_time(self) -> dt.time:
        return _clock(self.send_at)


class Collection(Section):
    # bin id -> times of day the collection comes (清运时间), e.g. {bin-1: ["07:30", "19:00"]}
    schedule: dict[Identifier, list[str]] = Field(default_factory=dict)
    window_s: PosSeconds = 3600.0  # the collection may come this long after each scheduled time…
    grace_s: float = seconds(1800.0, high=86400, zero_ok=True)  # …plus this much before it is overdue
    level_pct: float = Field(50.0, gt=0, le=100)  # only a bin at least this full is due to be emptied

    @field_validator("schedule")
    @classmethod
    def _times(cls, value: dict[str, list[str]]) -> dict[str, list[str]]:
        for bin_id, times in value.items():
            if not times:
                raise ValueError(_("{bin}: needs at least one time of day HH:MM").format(bin=bin_id))
            for t in times:
                _clock(t)
        return value

    @model_validator(mode="after")
    def _fits_a_day(self) -> "Collection":
        if self.window_s + self.grace_s >= 86400:
            raise ValueError(_("window_s + grace_s must be less than a day"))
        return self

    def times(self, bin_id: str) -> list[dt.time]:
        return sorted(_clock(t) for t in self.schedule.get(bin_id, []))


class Stats(Section):
    enabled: bool = True  # false: no accounting, no daily document, no collection_overdue
    densities_kg_per_l: dict[WasteType, float] = Field(default_factory=lambda: dict(DEFAULT_DENSITIES))
    settle_s: float = seconds(120.0, high=3600)  # a level counts once it held this long (median window)
    deadband_pct: float = Field(2.0, ge=0, le=50)  # rises and falls smaller than this are noise
    daily: DailyDocument = DailyDocument()
    collection: Collection = Collection()

    @field_validator("densities_kg_per_l")
    @classmethod
    def _densities(cls, value: dict[str, float]) -> dict[str, float]:
        for kind, d in value.items():
            if not 0 < d <= 5:
                raise ValueError(_("{kind}: a density from 0 to 5 kg per litre, got {value}").format(kind=kind, value=d))
        return {**DEFAULT_DENSITIES, **value}
