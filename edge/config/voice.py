"""What the room says and when (`voice`), and its switched loads (`actuators`)."""
from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from .base import Identifier, NonNegSeconds, PosSeconds, Section
from .site import _clock


class QuietHours(Section):
    start: str = "21:00"  # no voice from…
    end: str = "07:00"  # …until (may wrap past midnight)

    @field_validator("start", "end")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _clock(value)
        return value


class VolumeStep(Section):
    start: str  # from this time of day…
    volume: int = Field(ge=0, le=100)  # …play at this volume (percent)

    @field_validator("start")
    @classmethod
    def _hhmm(cls, value: str) -> str:
        _clock(value)
        return value


class Voice(Section):
    enabled: bool = True
    lang: Literal["zh", "en"] = "zh"
    cooldown_s: NonNegSeconds = 60.0  # per zone and prompt
    max_per_incident: int = Field(3, ge=0)
    quiet_hours: QuietHours | None = QuietHours()  # null: speak at any hour
    volume: int = Field(80, ge=0, le=100)
    volume_schedule: list[VolumeStep] = Field(
        default_factory=lambda: [VolumeStep(start="07:00", volume=80), VolumeStep(start="19:00", volume=60)]
    )
    prompts: dict[str, dict[str, str]] = Field(default_factory=dict)  # overrides: {prompt: {zh: …, en: …}}
    rate: int = Field(150, ge=50, le=400)  # words per minute
    player: str = "aplay"
    alsa_device: str | None = None  # e.g. "plughw:1,0"; null: the default device
    play_timeout_s: PosSeconds = 15.0
    render_timeout_s: PosSeconds = 30.0


class Actuator(Section):
    id: Identifier
    kind: Literal["relay"] = "relay"
    driver: Literal["gpio", "sim"] = "gpio"
    pin: int | None = None  # BCM number
    active_high: bool = True
    on_while: Literal["odor_high", "manual"] = "odor_high"
    hold_s: NonNegSeconds = 0.0  # 0: on while the incident is open; else: on for this long
    min_off_s: NonNegSeconds = 60.0  # compressor/fan protection

    @model_validator(mode="after")
    def _pin(self) -> "Actuator":
        if self.driver == "gpio" and self.pin is None:
            raise ValueError("a gpio relay needs pin")
        return self
