"""The runtime's pure core: what an event means for incidents, voice and relays.

    router = Router(cfg, VoicePolicy(cfg), {r.id: r.policy for r in relays}, restored=outbox.open_incidents(),
                    mono=time.monotonic())
    d = router.bag(ev, now=time.time(), mono=time.monotonic(), snapshot=meta, pruned=shas)
    d = router.alarm(ev, now, mono);  d = router.reading(r, now, mono);  d = router.camera(status, reason, now, mono)
    d = router.idle(now, mono)        # timers: relay hold/lockout, restored incidents nobody confirmed
    d = router.storage(problem, now, mono)
    d, outcome = router.relay_test(relay_id, seconds, mono)   # the console's relay test button
    for doc in d.revisions: outbox.enqueue_incident(doc)
    for req in d.voice: voice_worker.say(req)
    for s in d.relays: controllers[s.id].apply(s.on, s.reason)

No clock, no I/O, no threads: `now` is the wall clock (epoch seconds, for incident times and
the voice policy), `mono` a monotonic clock (relay timers, restart grace). One thread owns a
Router. It owns the incident book, the voice policy, the relay policies, which pile on the
floor is which incident subject, and what to do with incidents restored after a restart:

- A restored `bag_outside_bin` that the camera does not see again within the grace
  (`incident_after_s + clear_after_s + 30 s`) is resolved.
- A restored `bin_full` / `odor_high` waits for the first fresh reading of its sensor: at or
  below the clear mark it is resolved (it cleared while the agent was down), at or above the
  open mark it holds; until then no relay acts on it. A restored `sensor_fault` resolves on
  the sensor's first reading.
- A restored `storage_fault` resolves when the disk takes writes again.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Iterable, Mapping

from ..incidents import IncidentBook, Subject, subject_key

BAG = "bag_outside_bin"
RESTORE_GRACE_EXTRA_S = 30.0
STORAGE_SUBJECT = Subject(zone="storage")
CAMERA_SUBJECT = Subject(zone="camera")
RECONCILED_TYPES = ("bin_full", "odor_high", "sensor_fault")


@dataclass(frozen=True)
class RelaySwitch:
    id: str
    on: bool
    reason: str


@dataclass
class Decisions:
    """What the threads carry out: revisions to store (in order), prompts to play, relays to
    switch, and other events for the listener (the demo's printout)."""

    revisions: list[dict[str, Any]] = field(default_factory=list)
    voice: list[Any] = field(default_factory=list)  # PlayRequest
    relays: list[RelaySwitch] = field(default_factory=list)
    notes: list[dict[str, Any]] = field(default_factory=list)

    def add(self, doc: dict[str, Any] | None) -> None:
        if doc is not None:
            self.revisions.append(doc)

    def __iadd__(self, other: "Decisions") -> "Decisions":
        self.revisions += other.revisions
        self.voice += other.voice
        self.relays += other.relays
        self.notes += other.notes
        return self


class Router:
    def __init__(self, cfg, voice_policy, relay_policies: Mapping[str, Any], restored: Iterable[Mapping] = (),
                 mono: float = 0.0, book: IncidentBook | None = None):
        self.cfg = cfg
        self.voice = voice_policy
        self.relay_policies = dict(relay_policies)
        self.book = book or IncidentBook.from_config(cfg, restore=restored)
        rule = cfg.rules.bag_outside_bin
        grace = rule.incident_after_s + rule.clear_after_s + RESTORE_GRACE_EXTRA_S
        self._places: dict[tuple[str, int], str] = {}  # (zone, place_id) -> incident subject zone
        self._unclaimed_bags: dict[str, float] = {}  # restored bag incident zone -> resolve deadline (mono)
        # restored sensor incidents watched until the sensor's own alarm state takes them over:
        # key -> (subject, confirmed by a fresh reading)
        self._restored: dict[tuple, tuple[dict[str, Any], bool]] = {}
        self._relay_tests: dict[str, float] = {}  # relay id -> mono time its maintenance test ends
        for doc in self.book.open_incidents():
            if doc["type"] == BAG:
                self._unclaimed_bags[doc["subject"]["zone"]] = mono + grace
            elif doc["type"] in RECONCILED_TYPES:
                self._restored[subject_key(doc["type"], doc["subject"])] = (doc["subject"], False)

    # ------------------------------------------------------------------ queries

    def open_incidents(self) -> list[dict[str, Any]]:
        return self.book.open_incidents()

    def open_count(self) -> int:
        return len(self.book.open_incidents())

    def awaiting_readings(self) -> bool:
        """Restored sensor incidents still wait for a fresh reading (the agent routes readings here)."""
        return bool(self._restored)

    # ------------------------------------------------------------------ vision

    def bag(self, ev, now: float, mono: float, snapshot: Mapping | None = None,
            pruned: Iterable[str] = ()) -> Decisions:
        """A BagEvent. `snapshot`: the stored evidence picture's block (None: none, or it could not
        be stored); `pruned`: pictures the quota removed to make room for it."""
        d = self.pictures_pruned(pruned, now)
        voice_key = f"bag:{ev.zone}:{ev.place_id}"
        measurements = {"dwell_s": round(float(ev.dwell_s), 1), "count": int(ev.count),
                        "seen_by": getattr(ev, "seen_by", "detector")}
        if ev.kind == "reminder_due":
            req = self.voice.decide("bag_on_floor", ev.zone, voice_key, now)
            d.notes.append({"what": "reminder_due", "zone": ev.zone, "count": ev.count, "spoken": req is not None})
            if req is not None:
                d.voice.append(req)
                if (ev.zone, ev.place_id) in self._places:
                    d.add(self.book.update(BAG, self._subject(ev, create=False), now,
                                           reminders=self.voice.reminders_for(voice_key)))
        elif ev.kind == "incident_open":
            subject = self._subject(ev, create=True)
            # the reminders spoken before the incident opened ride on its first revision
            d.add(self.book.open(BAG, subject, measurements, now, snapshot=snapshot,
                                 reminders=self.voice.reminders_for(voice_key)))
        elif ev.kind == "incident_update":
            kwargs = {"snapshot": snapshot} if snapshot else {}
            d.add(self.book.update(BAG, self._subject(ev, create=False), now, measurements=measurements, **kwargs))
        elif ev.kind == "incident_resolved":
            subject = self._subject(ev, create=False)
            kwargs = {"snapshot": snapshot} if snapshot else {}  # the place without the bag (闭环)
            d.add(self.book.resolve(BAG, subject, now, measurements={"dwell_s": measurements["dwell_s"]}, **kwargs))
            self._places.pop((ev.zone, ev.place_id), None)
            self.voice.incident_closed(voice_key)
        return d

    def incident_id_for(self, ev) -> str | None:
        """The id of the incident a BagEvent's picture belongs to (the one it opens, updates or
        resolves), so the picture can be stamped with it before it is stored. None: no picture."""
        if ev.kind == "reminder_due":
            return None
        if ev.kind == "incident_open":
            return self.book.id_for(BAG, Subject(zone=self._place_label(ev)))
        doc = self.book.get(BAG, self._subject(ev, create=False))
        return doc["id"] if doc else None

    def _place_label(self, ev) -> str:
        """The subject zone a place has, or would get if it opened now: the zone's name for the
        first pile, `zone-N` for another pile open at the same time (the vision pipeline keys
        places by (zone, place_id); the platform's subject only has a zone)."""
        label = self._places.get((ev.zone, ev.place_id))
        if label is None:
            label = ev.zone if ev.zone not in set(self._places.values()) else f"{ev.zone}-{ev.place_id}"
        return label

    def _subject(self, ev, create: bool) -> Subject:
        key = (ev.zone, ev.place_id)
        label = self._places.get(key)
        if label is None and create:
            # a pile still open from before a restart is the same pile when it is seen again
            label = self._place_label(ev)
            self._places[key] = label
            self._unclaimed_bags.pop(label, None)
        return Subject(zone=label or ev.zone)

    def pictures_pruned(self, sha256s: Iterable[str], now: float) -> Decisions:
        """Pictures the storage quota removed: open incidents that carried one now say snapshot: null
        (the uplink skips an upload whose picture is gone)."""
        d = Decisions()
        shas = list(sha256s)
        if shas:
            d.revisions += self.book.forget_snapshots(shas, now)
        return d

    def camera(self, status: str, reason: str | None, now: float, mono: float) -> Decisions:
        d = Decisions()
        if status == "fault":
            d.add(self.book.open("camera_fault", CAMERA_SUBJECT, {"reason": reason or "fault"}, now))
        elif status == "ok":
            d.add(self.book.resolve("camera_fault", CAMERA_SUBJECT, now))
        return d

    # ------------------------------------------------------------------ sensors

    def alarm(self, ev, now: float, mono: float) -> Decisions:
        d = Decisions()
        subject = {k: ev.subject.get(k) for k in ("zone", "bin_id", "sensor_id")}
        if ev.action == "event":
            d.add(self.book.event(ev.type, subject, ev.measurements, now))
        elif ev.action == "open":
            self._restored.pop(subject_key(ev.type, subject), None)  # the fresh alarm state holds it now
            d.add(self.book.open(ev.type, subject, ev.measurements, now))
            if ev.type == "bin_full":
                self._say(d, "bin_full", subject.get("bin_id") or subject.get("sensor_id"), now)
            elif ev.type == "odor_high":
                self._say(d, "odor_ventilation", subject.get("sensor_id"), now)
        elif ev.action == "resolve":
            self._restored.pop(subject_key(ev.type, subject), None)
            d.add(self.book.resolve(ev.type, subject, now, measurements=ev.measurements))
        if ev.type == "odor_high":
            d += self._relays(mono)
        return d

    def reading(self, r, now: float, mono: float) -> Decisions:
        """A fresh filtered reading (edge.sensing.alarms.Reading): reconciles restored incidents."""
        d = Decisions()
        if not self._restored or r.value is None or r.state == "warmup":
            return d
        for key, (subject, _confirmed) in list(self._restored.items()):
            type_ = key[0]
            if subject.get("sensor_id") != r.sensor_id:
                continue
            verdict = self._reconcile(type_, r)
            if verdict == "holds":
                # relays may act on it now; still watched: the fresh alarm state opens it only after
                # min_duration_s, and a bin emptied before that would never resolve it
                self._restored[key] = (subject, True)
            elif verdict == "cleared":
                del self._restored[key]
                d.add(self.book.resolve(type_, subject, now, measurements={
                    **({r.quantity: r.value} if type_ != "sensor_fault" else {}),
                    "reason": "cleared while the agent was down"}))
        d += self._relays(mono)
        return d

    def _reconcile(self, type_: str, r) -> str | None:
        """'cleared', 'holds', or None (not decided by this reading)."""
        if type_ == "sensor_fault":
            return "cleared" if r.state != "fault" else "holds"
        marks = self._marks(type_, r)
        if marks is None:
            return None
        open_at, clear_at = marks
        if r.value <= clear_at:
            return "cleared"
        if r.value >= open_at:
            return "holds"
        return None

    def _marks(self, type_: str, r) -> tuple[float, float] | None:
        rules = self.cfg.rules
        if type_ == "bin_full" and r.quantity == "fill_pct":
            return rules.bin_full.open_pct, rules.bin_full.clear_pct
        if type_ == "odor_high":
            if r.quantity.endswith("_alarm"):
                return 1.0, 0.0
            th = rules.odor_high.thresholds.get(r.quantity.removesuffix("_ppm"))
            if th is not None:
                return th.open_ppm, th.clear_ppm
        return None

    # ------------------------------------------------------------------ the box itself

    def storage(self, problem: str | None, now: float, mono: float) -> Decisions:
        """The outbox's disk state: a problem opens (or updates) `storage_fault`, None resolves it."""
        d = Decisions()
        if problem:
            d.add(self.book.open("storage_fault", STORAGE_SUBJECT, {"reason": problem}, now))
        else:
            d.add(self.book.resolve("storage_fault", STORAGE_SUBJECT, now,
                                    measurements={"resolution": "the disk takes writes again"}))
        return d

    def outbox_replaced(self, problem: str, now: float) -> Decisions:
        """A damaged outbox was moved aside and a fresh one started: the platform is told, and
        the fault is over as soon as the fresh file works."""
        d = Decisions()
        d.add(self.book.open("storage_fault", STORAGE_SUBJECT, {"reason": problem}, now))
        d.add(self.book.resolve("storage_fault", STORAGE_SUBJECT, now,
                                measurements={"resolution": "a fresh outbox was started"}))
        return d

    # ------------------------------------------------------------------ timers

    def idle(self, now: float, mono: float) -> Decisions:
        """Called every half second or so: relay hold and lockout timers, restored bags nobody saw."""
        d = Decisions()
        for label, deadline in list(self._unclaimed_bags.items()):
            if mono >= deadline:
                del self._unclaimed_bags[label]
                d.add(self.book.resolve(BAG, Subject(zone=label), now,
                                        measurements={"reason": "not seen again after a restart"}))
        d += self._relays(mono)
        return d

    def relay_test(self, rid: str, seconds: float, mono: float) -> tuple[Decisions, str]:
        """A maintenance test (the console's button): relay `rid` on for `seconds`, then off, and
        its minimum off time runs from then. Returns (decisions, outcome): "on", or why not:
        "unknown" (no such relay), "busy" (on already, or under test), "min_off" (still inside
        its minimum off time: the fan's protection holds for a test too)."""
        d = Decisions()
        policy = self.relay_policies.get(rid)
        if policy is None:
            return d, "unknown"
        if policy.is_on or rid in self._relay_tests:
            return d, "busy"
        if policy.locked_off(mono):
            return d, "min_off"
        policy.is_on, policy.on_since = True, mono
        self._relay_tests[rid] = mono + seconds
        d.relays.append(RelaySwitch(rid, True, "test"))
        return d, "on"

    def _relays(self, mono: float) -> Decisions:
        d = Decisions()
        for rid, until in list(self._relay_tests.items()):
            if mono < until:
                continue
            del self._relay_tests[rid]  # the test is over: off, and the policy decides from here
            policy = self.relay_policies[rid]
            policy.is_on, policy.off_since = False, mono
            d.relays.append(RelaySwitch(rid, False, "test"))
        # a restored odor_high switches nothing until a fresh reading confirmed it
        odor = any(doc["type"] == "odor_high" and self._restored.get(subject_key("odor_high", doc["subject"]),
                                                                      (None, True))[1]
                   for doc in self.book.open_incidents())
        for rid, policy in self.relay_policies.items():
            if rid in self._relay_tests:
                continue
            before = policy.is_on
            on, reason = policy.step(mono, odor)
            if on != before:
                d.relays.append(RelaySwitch(rid, on, reason))
        return d

    def _say(self, d: Decisions, prompt: str, zone: str | None, now: float) -> None:
        req = self.voice.decide(prompt, zone, None, now)
        if req is not None:
            d.voice.append(req)
