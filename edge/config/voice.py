"""What the room says and when (`voice`), and its switched loads (`actuators`)."""
from __future__ import annotations

import re
from typing import Literal

from pydantic import Field, field_validator, model_validator

from ..i18n import _
from .base import Identifier, NonNegSeconds, Section, seconds
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
    MULTILINE_FIELDS = frozenset({"prompts"})  # spoken text may be a YAML block scalar

    enabled: bool = True
    lang: Literal["zh", "en"] = "zh"
    cooldown_s: NonNegSeconds = 60.0  # per zone and prompt
    max_per_incident: int = Field(3, ge=0, le=100)
    quiet_hours: QuietHours | None = QuietHours()  # null: speak at any hour
    volume: int = Field(80, ge=0, le=100)
    volume_schedule: list[VolumeStep] = Field(
        default_factory=lambda: [VolumeStep(start="07:00", volume=80), VolumeStep(start="19:00", volume=60)]
    )
    prompts: dict[str, dict[Literal["zh", "en"], str]] = Field(default_factory=dict)  # overrides: {prompt: {zh: …, en: …}}
    voices: dict[Literal["zh", "en"], str] = Field(  # espeak-ng voice per language (`espeak-ng --voices`)
        default_factory=lambda: {"zh": "sit/cmn", "en": "gmw/en-us"}
    )
    rate: int = Field(175, ge=50, le=400)  # words per minute (espeak-ng default 175)
    player: str = "aplay"
    alsa_device: str | None = None  # e.g. "plughw:1,0"; null: the default device
    play_timeout_s: float = seconds(20.0, high=600)
    render_timeout_s: float = seconds(30.0, high=600)
    queue_size: int = Field(4, ge=1, le=100)  # reminders waiting for the speaker; more are dropped
    max_delay_s: float = seconds(10.0, high=3600)  # a reminder that waited longer than this is dropped as stale

    @field_validator("prompts")
    @classmethod
    def _texts(cls, value: dict[str, dict[str, str]]) -> dict[str, dict[str, str]]:
        for name, texts in value.items():
            if not re.fullmatch(r"[a-z][a-z0-9_]{0,63}", name):
                raise ValueError(_("prompt name {name!r}: use lower-case letters, digits and _").format(name=name))
            for lang, text in texts.items():
                if not text.strip():
                    raise ValueError(_("prompt {name}.{lang} is empty").format(name=name, lang=lang))
        return value

    def voice_for(self, lang: str) -> str:
        return self.voices.get(lang) or ("sit/cmn" if lang == "zh" else "gmw/en-us")


class Actuator(Section):
    id: Identifier
    kind: Literal["relay"] = "relay"
    driver: Literal["gpio", "sim"] = "gpio"
    pin: int | None = Field(None, ge=0, le=53)  # BCM number
    active_high: bool = True
    on_while: Literal["odor_high", "manual"] = "odor_high"
    hold_s: NonNegSeconds = 0.0  # 0: on while the incident is open; else: on for this long
    min_off_s: NonNegSeconds = 60.0  # compressor/fan protection

    @model_validator(mode="after")
    def _pin(self) -> "Actuator":
        if self.driver == "gpio" and self.pin is None:
            raise ValueError(_("a gpio relay needs pin"))
        return self
