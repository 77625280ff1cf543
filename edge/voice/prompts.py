"""The prompt catalogue: what the room says, per prompt name and language.

Shipped texts live in `prompts.yaml` beside this module; `voice.prompts` in the config
overrides a text (or adds a prompt) per language. `{hours}` in a text is filled with the
opening hours from `schedule.opening_hours`, phrased for the language.
Pure: no clock, no IO beyond reading the shipped file once.
"""
from __future__ import annotations

import datetime as dt
from functools import lru_cache
from importlib import resources

from ruamel.yaml import YAML

from ..config.site import Schedule

LANGS = ("zh", "en")


class UnknownPrompt(KeyError):
    pass


@lru_cache(maxsize=1)
def shipped_prompts() -> dict[str, dict[str, str]]:
    text = resources.files(__package__).joinpath("prompts.yaml").read_text(encoding="utf-8")
    data = YAML(typ="safe").load(text) or {}
    return {str(name): {str(lang): str(t) for lang, t in texts.items()} for name, texts in data.items()}


def _hhmm_zh(t: dt.time) -> str:
    return f"{t.hour}点" if t.minute == 0 else f"{t.hour}点{t.minute}分"


def _hhmm_en(t: dt.time) -> str:
    return f"{t.hour}:{t.minute:02d}"


_DAY_ZH = {"mon": "周一", "tue": "周二", "wed": "周三", "thu": "周四", "fri": "周五", "sat": "周六", "sun": "周日"}
_DAY_EN = {"mon": "Monday", "tue": "Tuesday", "wed": "Wednesday", "thu": "Thursday", "fri": "Friday",
           "sat": "Saturday", "sun": "Sunday"}


def hours_phrase(schedule: Schedule, lang: str) -> str:
    """The opening hours as words: "每天7点到9点、18点到20点" / "daily from 7:00 to 9:00 and 18:00 to 20:00"."""
    parts = []
    for w in schedule.opening_hours:
        every_day = len(set(w.days)) == 7
        if lang == "zh":
            days = "每天" if every_day else "、".join(_DAY_ZH[d] for d in w.days)
            parts.append((days, f"{_hhmm_zh(w.start_time())}到{_hhmm_zh(w.end_time())}"))
        else:
            days = "daily" if every_day else "on " + ", ".join(_DAY_EN[d] for d in w.days)
            parts.append((days, f"from {_hhmm_en(w.start_time())} to {_hhmm_en(w.end_time())}"))
    if not parts:
        return "全天" if lang == "zh" else "all day"
    # group consecutive windows that share their days: "每天7点到9点、18点到20点"
    out: list[str] = []
    prev = None
    for days, span in parts:
        if days == prev:
            out[-1] += ("、" if lang == "zh" else " and ") + (span if lang == "zh" else span.removeprefix("from "))
        else:
            out.append(f"{days}{span}" if lang == "zh" else f"{days} {span}")
        prev = days
    return "，".join(out) if lang == "zh" else "; ".join(out)


class _Blank(dict):
    def __missing__(self, key: str) -> str:  # unknown placeholders are left as written
        return "{" + key + "}"


class PromptCatalogue:
    """Shipped prompts merged with config overrides."""

    def __init__(self, overrides: dict[str, dict[str, str]] | None = None, schedule: Schedule | None = None):
        merged = {name: dict(texts) for name, texts in shipped_prompts().items()}
        for name, texts in (overrides or {}).items():
            merged.setdefault(name, {}).update(texts)
        self._prompts = merged
        self._schedule = schedule or Schedule()

    @classmethod
    def from_config(cls, cfg) -> "PromptCatalogue":
        return cls(cfg.voice.prompts, cfg.schedule)

    def names(self) -> list[str]:
        return sorted(self._prompts)

    def __contains__(self, name: str) -> bool:
        return name in self._prompts

    def text(self, name: str, lang: str) -> str:
        """The text to speak, placeholders filled. Falls back to the other language if one is missing."""
        try:
            texts = self._prompts[name]
        except KeyError:
            raise UnknownPrompt(f"unknown prompt {name!r} (known: {', '.join(self.names())})") from None
        raw = texts.get(lang) or next((texts[lg] for lg in LANGS if texts.get(lg)), "")
        if "{" not in raw:
            return raw
        try:
            return raw.format_map(_Blank(hours=hours_phrase(self._schedule, lang)))
        except (ValueError, IndexError):  # stray braces in a site's text: say it as written
            return raw

    def all_texts(self, lang: str) -> dict[str, str]:
        return {name: self.text(name, lang) for name in self.names()}
