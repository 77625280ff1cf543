"""The voice policy with an injected clock: cooldowns, reminders per incident, quiet hours,
opening hours (定时定点) and the volume schedule. Pure logic: nothing sleeps."""
from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from edge.config import Config
from edge.voice import PromptCatalogue, VoicePolicy
from edge.voice.prompts import hours_phrase

TZ = ZoneInfo("Asia/Shanghai")


def at(hhmm: str, day: int = 2, seconds: float = 0.0) -> dt.datetime:
    """A wall-clock instant in the device's zone; 2026-03-02 is a Monday."""
    h, m = map(int, hhmm.split(":"))
    return dt.datetime(2026, 3, day, h, m, tzinfo=TZ) + dt.timedelta(seconds=seconds)


def config(**voice) -> Config:
    data = {"voice": voice, "schedule": {"opening_hours": []}}  # always open unless a test says otherwise
    return Config.model_validate(data)


def test_speaks_the_default_zh_prompt():
    p = VoicePolicy(config())
    d = p.evaluate("bag_on_floor", "floor", "trk-1", at("10:00"))
    assert d.reason == "play"
    assert d.request.text == "居民同志，您的垃圾落地了，请正确投放。"
    assert d.request.voice == "sit/cmn" and d.request.lang == "zh" and d.request.rate == 175


def test_cooldown_per_zone_and_prompt():
    p = VoicePolicy(config(cooldown_s=60, max_per_incident=100))
    assert p.decide("bag_on_floor", "floor", None, at("10:00")) is not None
    assert p.evaluate("bag_on_floor", "floor", None, at("10:00", seconds=59.9)).reason == "cooldown"
    # another zone, or another prompt in the same zone, is not held back
    assert p.decide("bag_on_floor", "floor-2", None, at("10:00", seconds=10)) is not None
    assert p.decide("bin_full", "floor", None, at("10:00", seconds=10)) is not None
    assert p.decide("bag_on_floor", "floor", None, at("10:00", seconds=60)) is not None
    assert p.evaluate("bag_on_floor", "floor", None, at("10:00", seconds=61)).reason == "cooldown"


def test_clock_stepped_backwards_does_not_silence_the_room():
    p = VoicePolicy(config(cooldown_s=60))
    assert p.decide("bin_full", "bin-1", None, at("10:00")) is not None
    assert p.decide("bin_full", "bin-1", None, at("09:00")) is not None  # NTP moved the clock back an hour


def test_max_reminders_per_incident():
    p = VoicePolicy(config(cooldown_s=0, max_per_incident=2))
    assert p.decide("bag_on_floor", "floor", "inc-1", at("10:00")) is not None
    assert p.decide("sort_guide", "floor", "inc-1", at("10:01")) is not None  # any prompt counts
    assert p.evaluate("bag_on_floor", "floor", "inc-1", at("10:02")).reason == "max_per_incident"
    assert p.reminders_for("inc-1") == 2
    assert p.decide("bag_on_floor", "floor", "inc-2", at("10:02")) is not None  # a new bag
    p.incident_closed("inc-1")
    assert p.decide("bag_on_floor", "floor", "inc-1", at("10:03")) is not None


def test_zero_max_means_never_for_incidents():
    p = VoicePolicy(config(max_per_incident=0))
    assert p.evaluate("bag_on_floor", "floor", "inc-1", at("10:00")).reason == "max_per_incident"
    assert p.decide("bag_on_floor", "floor", None, at("10:00")) is not None


def test_refused_reminders_do_not_count():
    p = VoicePolicy(config(cooldown_s=60, max_per_incident=2))
    p.decide("bag_on_floor", "floor", "inc-1", at("10:00"))
    for s in range(1, 50):
        p.decide("bag_on_floor", "floor", "inc-1", at("10:00", seconds=s))  # all in cooldown
    assert p.reminders_for("inc-1") == 1


@pytest.mark.parametrize("hhmm,quiet", [
    ("20:59", False), ("21:00", True), ("23:59", True), ("00:00", True), ("03:30", True),
    ("06:59", True), ("07:00", False), ("12:00", False),
])
def test_quiet_hours_wrap_past_midnight(hhmm, quiet):
    p = VoicePolicy(config(quiet_hours={"start": "21:00", "end": "07:00"}))
    assert p.is_quiet(at(hhmm)) is quiet
    d = p.evaluate("bin_full", "bin-1", None, at(hhmm))
    assert (d.reason == "quiet_hours") is quiet


def test_quiet_hours_within_a_day_and_disabled():
    p = VoicePolicy(config(quiet_hours={"start": "12:00", "end": "14:00"}))
    assert p.is_quiet(at("13:00")) and not p.is_quiet(at("14:00")) and not p.is_quiet(at("02:00"))
    assert not VoicePolicy(config(quiet_hours=None)).is_quiet(at("03:00"))
    assert not VoicePolicy(config(quiet_hours={"start": "07:00", "end": "07:00"})).is_quiet(at("07:00"))


def test_quiet_hours_use_the_device_time_zone():
    p = VoicePolicy(config())  # Asia/Shanghai, quiet 21:00-07:00
    noon_utc = dt.datetime(2026, 3, 2, 12, 0, tzinfo=dt.timezone.utc)  # 20:00 in Shanghai
    assert not p.is_quiet(noon_utc)
    assert p.is_quiet(noon_utc + dt.timedelta(hours=1))  # 21:00 in Shanghai
    assert p.is_quiet((noon_utc + dt.timedelta(hours=1)).timestamp())  # epoch seconds work the same
    assert p.is_quiet(dt.datetime(2026, 3, 2, 22, 0))  # naive: the device's own time


def test_disabled_voice_is_silent():
    assert VoicePolicy(config(enabled=False)).evaluate("bin_full", "b", None, at("10:00")).reason == "disabled"


def test_unknown_prompt_is_refused():
    assert VoicePolicy(config()).evaluate("no_such_prompt", "b", None, at("10:00")).reason == "unknown_prompt"


def opening(*windows) -> Config:
    return Config.model_validate({"schedule": {"opening_hours": list(windows)}})


def test_bag_outside_opening_hours_gets_the_closed_prompt():
    cfg = opening({"start": "07:00", "end": "09:00"}, {"start": "18:00", "end": "20:00"})
    p = VoicePolicy(cfg)
    inside = p.decide("bag_on_floor", "floor", "a", at("08:30"))
    assert inside.prompt == "bag_on_floor"
    outside = p.decide("bag_on_floor", "floor", "b", at("12:00"))
    assert outside.prompt == "outside_opening_hours"
    assert outside.text == "现在不是投放时间，请在每天7点到9点、18点到20点投放。"
    assert p.decide("bag_on_floor", "floor", "c", at("18:00")).prompt == "bag_on_floor"
    assert p.decide("bag_on_floor", "floor", "d", at("20:00", seconds=61)).prompt == "outside_opening_hours"
    # other prompts are not about dropping rubbish: unchanged
    assert p.decide("bin_full", "bin-1", None, at("12:00")).prompt == "bin_full"


def test_opening_hours_by_weekday():
    p = VoicePolicy(opening({"days": ["sat", "sun"], "start": "09:00", "end": "11:00"}))
    assert not p.is_open(at("10:00", day=2))  # Monday
    assert p.is_open(at("10:00", day=7))  # Saturday
    assert not p.is_open(at("11:00", day=7))
    assert VoicePolicy(opening()).is_open(at("03:00"))  # no windows: always open


def test_closed_prompt_cooldown_is_its_own():
    p = VoicePolicy(opening({"start": "07:00", "end": "09:00"}))
    assert p.decide("bag_on_floor", "floor", None, at("06:50")) is None  # quiet hours until 07:00
    assert p.decide("bag_on_floor", "floor", None, at("08:59")).prompt == "bag_on_floor"
    # a minute later the room has closed: a different prompt, not held back by the one just spoken
    assert p.decide("bag_on_floor", "floor", None, at("09:00", seconds=30)).prompt == "outside_opening_hours"
    assert p.evaluate("bag_on_floor", "floor", None, at("09:01")).reason == "cooldown"


def test_hours_phrase_both_languages():
    cfg = opening({"start": "07:30", "end": "09:00"}, {"days": ["sat"], "start": "18:00", "end": "20:00"})
    assert hours_phrase(cfg.schedule, "zh") == "每天7点30分到9点，周六18点到20点"
    assert hours_phrase(cfg.schedule, "en") == "daily from 7:30 to 9:00; on Saturday from 18:00 to 20:00"
    en = VoicePolicy(Config.model_validate({"voice": {"lang": "en"},
                                            "schedule": {"opening_hours": [{"start": "07:00", "end": "09:00"}]}}))
    req = en.decide("bag_on_floor", "floor", None, at("12:00"))
    assert req.text == "The garbage room is closed now. Please come back daily from 7:00 to 9:00."
    assert req.voice == "gmw/en-us"


@pytest.mark.parametrize("hhmm,volume", [("06:59", 60), ("07:00", 80), ("12:00", 80), ("18:59", 80),
                                         ("19:00", 60), ("23:00", 60), ("00:30", 60)])
def test_volume_schedule(hhmm, volume):
    p = VoicePolicy(config(quiet_hours=None))
    assert p.volume_at(at(hhmm)) == volume
    assert p.decide("bin_full", f"z{hhmm}", None, at(hhmm)).volume == volume


def test_volume_without_schedule_and_unsorted_steps():
    assert VoicePolicy(config(volume_schedule=[], volume=45)).volume_at(at("12:00")) == 45
    p = VoicePolicy(config(volume_schedule=[{"start": "22:00", "volume": 30}, {"start": "06:00", "volume": 90}]))
    assert p.volume_at(at("05:00")) == 30 and p.volume_at(at("06:00")) == 90 and p.volume_at(at("22:30")) == 30
    assert p.volumes() == {30, 90}


def test_config_overrides_prompt_texts():
    cfg = Config.model_validate({"voice": {"prompts": {
        "bag_on_floor": {"zh": "请把垃圾扔进桶里。"},
        "door_open": {"zh": "请随手关门。", "en": "Please close the door."},
    }}, "schedule": {"opening_hours": []}})
    p = VoicePolicy(cfg)
    assert p.decide("bag_on_floor", "f", None, at("10:00")).text == "请把垃圾扔进桶里。"
    assert p.decide("door_open", "f", None, at("10:00")).text == "请随手关门。"
    cat = PromptCatalogue.from_config(cfg)
    assert cat.text("bag_on_floor", "en").startswith("Your garbage bag")  # the other language kept
    assert "door_open" in cat.names()


def test_prompt_overrides_are_validated():
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        Config.model_validate({"voice": {"prompts": {"bag_on_floor": {"fr": "Sac au sol"}}}})
    with pytest.raises(ValidationError):
        Config.model_validate({"voice": {"prompts": {"Bad Name": {"zh": "x"}}}})
    with pytest.raises(ValidationError):
        Config.model_validate({"voice": {"prompts": {"x": {"zh": "  "}}}})


def test_stray_braces_in_a_site_text_are_spoken_as_written():
    cat = PromptCatalogue({"odd": {"zh": "温度 {高} 和 {"}})
    assert cat.text("odd", "zh") == "温度 {高} 和 {"


def test_memory_carries_cooldowns_and_counts_into_a_rebuilt_policy():
    """A config reload rebuilds the agent: the new policy must not repeat what the room just heard."""
    old = VoicePolicy(config(cooldown_s=60, max_per_incident=1))
    assert old.decide("bag_on_floor", "floor", "bag:floor:1", at("10:00")) is not None
    fresh = VoicePolicy(config(cooldown_s=60, max_per_incident=1))
    assert fresh.evaluate("bag_on_floor", "floor", "bag:floor:1", at("10:00", seconds=5)).reason == "play"
    rebuilt = VoicePolicy(config(cooldown_s=60, max_per_incident=1))
    rebuilt.recall(old.memory())
    assert rebuilt.evaluate("bag_on_floor", "floor", "bag:floor:1", at("10:00", seconds=5)).reason == "cooldown"
    assert rebuilt.evaluate("bag_on_floor", "floor", "bag:floor:1", at("10:05")).reason == "max_per_incident"
    assert rebuilt.reminders_for("bag:floor:1") == 1
