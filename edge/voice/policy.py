"""When the room speaks, what it says and how loud: a pure policy (no clock, no IO, no threads).

    policy = VoicePolicy(config)                      # the whole `Config`
    req = policy.decide("bag_on_floor", zone="floor", incident_id="inc-42", now=time.time())
    if req is not None:
        voice_worker.say(req)                         # non-blocking, see edge.voice.worker

`now` is the wall clock: epoch seconds (float) or a datetime (naive = the device's time zone,
`device.timezone`). Rules, in order:

1. `voice.enabled` false: silent.
2. Quiet hours (`voice.quiet_hours`, may wrap past midnight): silent, whatever the reason.
3. Outside the opening hours (`schedule.opening_hours`, 定时定点) a `bag_on_floor` reminder
   becomes `outside_opening_hours` ("the room is closed now; it opens at …").
4. The same prompt in the same zone at most once per `voice.cooldown_s`.
5. At most `voice.max_per_incident` reminders per incident id (any prompt). The incident id
   is any stable key for the occurrence: the incident's id, or the track id before an
   incident is opened; None counts nothing. Call `incident_closed(id)` when it ends.
6. Volume: the `voice.volume_schedule` step in force at that time of day (wrapping past
   midnight), or `voice.volume` when the schedule is empty.

A decision to speak is recorded at once (cooldown and count), whether or not the speaker
manages to play it: a reminder is never repeated because the sound card failed.
`evaluate()` returns the reason as well, for logs and tests.

Which event speaks which prompt (for the runtime): bag_outside_bin reminder due → bag_on_floor
(zone: the floor, incident id: the track/incident); bin_full opened → bin_full (zone: the bin id);
odor_high opened → odor_ventilation. `thank_you` and `sort_guide` are in the catalogue for
`gedge speak` and sites; the runtime does not speak them by itself (no event says a reminded
bag was put away).
"""
from __future__ import annotations

import datetime as dt
from collections import OrderedDict
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from .prompts import PromptCatalogue, UnknownPrompt

# prompts that turn into `outside_opening_hours` while the room is closed
SCHEDULED_PROMPTS = frozenset({"bag_on_floor"})
CLOSED_PROMPT = "outside_opening_hours"
_MAX_INCIDENTS = 1024  # incident counters kept (oldest forgotten first)
_DAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


@dataclass(frozen=True)
class PlayRequest:
    prompt: str  # the prompt actually spoken (may differ from the one asked for)
    text: str
    lang: str
    voice: str  # espeak-ng voice id
    rate: int  # words per minute
    volume: int  # percent
    zone: str | None
    incident_id: str | None
    due_at: float  # epoch seconds of the decision


@dataclass(frozen=True)
class Decision:
    request: PlayRequest | None
    reason: str  # "play" | "disabled" | "quiet_hours" | "cooldown" | "max_per_incident" | "unknown_prompt"


def _clock(hhmm: str) -> dt.time:
    return dt.time.fromisoformat(hhmm)


def _minutes(t: dt.time) -> int:
    return t.hour * 60 + t.minute


class VoicePolicy:
    def __init__(self, config, catalogue: PromptCatalogue | None = None):
        self._last: dict[tuple[str | None, str], float] = {}  # (zone, prompt) -> epoch of last play
        self._counts: OrderedDict[str, int] = OrderedDict()  # incident id -> reminders spoken
        self.cfg = config.voice
        self.schedule = config.schedule
        self.tz = ZoneInfo(config.device.timezone)
        self.catalogue = catalogue or PromptCatalogue.from_config(config)

    # --- time of day -------------------------------------------------------------------
    def _local(self, now: float | dt.datetime) -> dt.datetime:
        if isinstance(now, dt.datetime):
            return now.replace(tzinfo=self.tz) if now.tzinfo is None else now.astimezone(self.tz)
        return dt.datetime.fromtimestamp(float(now), self.tz)

    def is_quiet(self, now: float | dt.datetime) -> bool:
        q = self.cfg.quiet_hours
        if q is None:
            return False
        t = _minutes(self._local(now).time())
        start, end = _minutes(_clock(q.start)), _minutes(_clock(q.end))
        if start == end:  # an empty span
            return False
        if start < end:
            return start <= t < end
        return t >= start or t < end  # wraps past midnight

    def is_open(self, now: float | dt.datetime) -> bool:
        """Whether the room is within its opening hours (always, when none are configured)."""
        windows = self.schedule.opening_hours
        if not windows:
            return True
        local = self._local(now)
        day, t = _DAYS[local.weekday()], local.time().replace(tzinfo=None)
        return any(day in w.days and w.start_time() <= t < w.end_time() for w in windows)

    def volume_at(self, now: float | dt.datetime) -> int:
        steps = sorted(self.cfg.volume_schedule, key=lambda s: _minutes(_clock(s.start)))
        if not steps:
            return self.cfg.volume
        t = _minutes(self._local(now).time())
        current = steps[-1]  # before the first step of the day, yesterday's last step holds
        for s in steps:
            if _minutes(_clock(s.start)) <= t:
                current = s
        return current.volume

    # --- decisions ---------------------------------------------------------------------
    def decide(self, prompt: str, zone: str | None, incident_id: str | None,
               now: float | dt.datetime) -> PlayRequest | None:
        return self.evaluate(prompt, zone, incident_id, now).request

    def evaluate(self, prompt: str, zone: str | None, incident_id: str | None,
                 now: float | dt.datetime) -> Decision:
        if not self.cfg.enabled:
            return Decision(None, "disabled")
        if self.is_quiet(now):
            return Decision(None, "quiet_hours")
        if prompt in SCHEDULED_PROMPTS and not self.is_open(now) and CLOSED_PROMPT in self.catalogue:
            prompt = CLOSED_PROMPT
        lang = self.cfg.lang
        try:
            text = self.catalogue.text(prompt, lang)
        except UnknownPrompt:
            return Decision(None, "unknown_prompt")
        epoch = self._local(now).timestamp()
        last = self._last.get((zone, prompt))
        # a clock stepped backwards (NTP) must not silence the room for the size of the step
        if last is not None and 0 <= epoch - last < self.cfg.cooldown_s:
            return Decision(None, "cooldown")
        if incident_id is not None and self._counts.get(incident_id, 0) >= self.cfg.max_per_incident:
            return Decision(None, "max_per_incident")
        self._last[(zone, prompt)] = epoch
        if incident_id is not None:
            self._counts[incident_id] = self._counts.get(incident_id, 0) + 1
            self._counts.move_to_end(incident_id)
            while len(self._counts) > _MAX_INCIDENTS:
                self._counts.popitem(last=False)
        req = PlayRequest(prompt=prompt, text=text, lang=lang, voice=self.cfg.voice_for(lang), rate=self.cfg.rate,
                          volume=self.volume_at(now), zone=zone, incident_id=incident_id, due_at=epoch)
        return Decision(req, "play")

    def memory(self) -> dict:
        """What was said when: carried into the policy of a rebuilt agent (config reload), so
        a reload never repeats a reminder the room just heard."""
        return {"last": dict(self._last), "counts": OrderedDict(self._counts)}

    def recall(self, memory: dict) -> None:
        self._last.update(memory.get("last", {}))
        self._counts.update(memory.get("counts", {}))

    def incident_closed(self, incident_id: str) -> None:
        self._counts.pop(incident_id, None)

    def reminders_for(self, incident_id: str) -> int:
        return self._counts.get(incident_id, 0)

    # --- what to pre-render ------------------------------------------------------------
    def volumes(self) -> set[int]:
        return {s.volume for s in self.cfg.volume_schedule} or {self.cfg.volume}

    def render_jobs(self) -> list[tuple[str, str, int, int]]:
        """(text, voice, rate, volume) for every prompt in the configured language at every
        scheduled volume: what the worker pre-renders at start and after a config change."""
        lang = self.cfg.lang
        voice = self.cfg.voice_for(lang)
        return [(text, voice, self.cfg.rate, vol)
                for text in self.catalogue.all_texts(lang).values() for vol in sorted(self.volumes())]
