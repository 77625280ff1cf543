"""Dwell rules for bags left outside the bins (`rules.bag_outside_bin`): pure, clock passed in.

Bags are grouped into *places*: a bag within `same_place_px` of a bag already in a place of the
same zone belongs to it. Several bags in one place are one incident with a count; bags far apart
on the floor are separate incidents. A place's *episode* starts when its first bag has lain still
(the tracker's `still_since`) and lasts until the place has been empty for `clear_after_s`
(so a bag nudged or briefly hidden does not start over). Within an episode:

- `reminder_due` once, when the episode is `remind_after_s` old (the voice reminder; the voice
  policy decides whether and how often to speak);
- `incident_open` once, when it is `incident_after_s` old and a bag is still there;
- `incident_update` when the count of bags changes and holds for `update_settle_s`;
- `incident_resolved` when no bag has been seen there for `clear_after_s`.

The caller decides what counts as a bag (class, confidence, zone, lying still, not carried);
persons never reach this module. Events of one place share `place_id`: key incidents on
(zone, place_id).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Mapping, Sequence

REMINDER_DUE = "reminder_due"
INCIDENT_OPEN = "incident_open"
INCIDENT_UPDATE = "incident_update"
INCIDENT_RESOLVED = "incident_resolved"
KINDS = (REMINDER_DUE, INCIDENT_OPEN, INCIDENT_UPDATE, INCIDENT_RESOLVED)


@dataclass(frozen=True)
class BagObs:
    """One bag seen now: its track, since when it has lain still, and its anchor (bottom-centre)."""

    track_id: int
    still_since: float
    xy: tuple[float, float]


@dataclass
class BagEvent:
    """What the vision pipeline tells the rest of the agent.

    kind: one of KINDS; t: the frame time (seconds: the pipeline's clock, or the clip time in
    replay); zone: "floor"; place_id: the place within the zone (incidents are keyed on
    (zone, place_id)); count: bags there now (0 when resolved); dwell_s: how long the place has
    held a bag (for resolved: from the first bag to the last sighting); xy: the place's centre in
    pixels; snapshot_jpeg: the evidence JPEG (incident_open / incident_update / incident_resolved)
    or None (reminder_due); track_ids: the bags' tracks; seen_by: which eye saw the place
    (edge.contract.SEEN_BY: "detector", "static" or "both"; `measurements.seen_by` of the incident).
    """

    kind: str
    t: float
    zone: str
    count: int
    dwell_s: float
    snapshot_jpeg: bytes | None = None
    track_ids: tuple[int, ...] = ()
    place_id: int = 1
    xy: tuple[float, float] | None = None
    seen_by: str = "detector"

    def as_dict(self) -> dict:
        return {"event": self.kind, "t": round(self.t, 2), "zone": self.zone, "place": self.place_id,
                "count": self.count, "dwell_s": round(self.dwell_s, 1), "seen_by": self.seen_by,
                "xy": None if self.xy is None else [round(self.xy[0]), round(self.xy[1])],
                "snapshot_bytes": len(self.snapshot_jpeg) if self.snapshot_jpeg else 0}


@dataclass
class _Place:
    zone: str
    id: int
    since: float
    last_present: float
    points: dict[int, tuple[float, float]] = field(default_factory=dict)  # track id -> last anchor
    reminded: bool = False
    open: bool = False
    reported_count: int = 0
    pending_count: int = 0
    pending_since: float = 0.0
    track_ids: tuple[int, ...] = ()

    def distance(self, xy: tuple[float, float]) -> float:
        return min((math.dist(xy, p) for p in self.points.values()), default=math.inf)

    def centre(self) -> tuple[float, float] | None:
        if not self.points:
            return None
        xs, ys = zip(*self.points.values())
        return (sum(xs) / len(xs), sum(ys) / len(ys))


class BagRules:
    """`update(now, present)` with present = {zone: [BagObs, …]} (the bags now seen outside the
    bins). Returns the events due at `now`, in a stable order."""

    def __init__(self, remind_after_s: float, incident_after_s: float, clear_after_s: float,
                 update_settle_s: float = 3.0, same_place_px: float = 160.0):
        if remind_after_s > incident_after_s:
            raise ValueError("remind_after_s must not exceed incident_after_s")
        self.remind_after_s = remind_after_s
        self.incident_after_s = incident_after_s
        self.clear_after_s = clear_after_s
        self.update_settle_s = update_settle_s
        self.same_place_px = same_place_px
        self._places: list[_Place] = []
        self._next_id = 1

    @classmethod
    def from_config(cls, rule) -> "BagRules":
        """From `rules.bag_outside_bin` (edge.config.vision.BagRule)."""
        return cls(rule.remind_after_s, rule.incident_after_s, rule.clear_after_s,
                   rule.update_settle_s, rule.same_place_px)

    def open_incidents(self) -> dict[tuple[str, int], int]:
        """(zone, place_id) of each open incident -> its reported bag count."""
        return {(p.zone, p.id): p.reported_count for p in self._places if p.open}

    def tracks_by_place(self) -> dict[int, tuple[int, ...]]:
        """place_id -> every track seen in the place during its episode (for which eye saw it)."""
        return {p.id: tuple(p.points) for p in self._places}

    def _assign(self, zone: str, bag: BagObs) -> _Place:
        candidates = [p for p in self._places if p.zone == zone]
        for p in candidates:  # a known track stays in its place while it is still near it
            if bag.track_id in p.points and p.distance(bag.xy) <= self.same_place_px:
                return p
        best = min(candidates, key=lambda p: p.distance(bag.xy), default=None)
        if best is not None and best.distance(bag.xy) <= self.same_place_px:
            return best
        place = _Place(zone=zone, id=self._next_id, since=bag.still_since, last_present=bag.still_since)
        self._next_id += 1
        self._places.append(place)
        return place

    def update(self, now: float, present: Mapping[str, Sequence[BagObs]]) -> list[BagEvent]:
        seen: dict[int, list[BagObs]] = {}
        for zone in sorted(present):
            for bag in present[zone]:
                place = self._assign(zone, bag)
                place.points[bag.track_id] = bag.xy
                seen.setdefault(place.id, []).append(bag)
        events: list[BagEvent] = []
        for place in list(self._places):
            bags = seen.get(place.id, [])
            if bags:
                place.since = min(place.since, min(b.still_since for b in bags))
                place.last_present = now
                place.track_ids = tuple(sorted(b.track_id for b in bags))
                events.extend(self._occupied(place, now, len(bags)))
            else:
                if place.pending_count:
                    place.pending_count, place.pending_since = 0, now
                if now - place.last_present >= self.clear_after_s:
                    self._places.remove(place)
                    if place.open:
                        events.append(self._event(INCIDENT_RESOLVED, place, now, 0, place.last_present - place.since))
        return events

    def _occupied(self, place: _Place, now: float, n: int) -> list[BagEvent]:
        out: list[BagEvent] = []
        dwell = now - place.since
        if not place.reminded and dwell >= self.remind_after_s:
            place.reminded = True
            out.append(self._event(REMINDER_DUE, place, now, n, dwell))
        if not place.open:
            if dwell >= self.incident_after_s:
                place.open = True
                place.reported_count = place.pending_count = n
                place.pending_since = now
                out.append(self._event(INCIDENT_OPEN, place, now, n, dwell))
            return out
        if n != place.pending_count:
            place.pending_count, place.pending_since = n, now
        if n != place.reported_count and now - place.pending_since >= self.update_settle_s:
            place.reported_count = n
            out.append(self._event(INCIDENT_UPDATE, place, now, n, dwell))
        return out

    @staticmethod
    def _event(kind: str, place: _Place, now: float, n: int, dwell: float) -> BagEvent:
        return BagEvent(kind, now, place.zone, n, dwell, track_ids=place.track_ids, place_id=place.id,
                        xy=place.centre())
