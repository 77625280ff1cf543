"""The vision pipeline: camera frame → small picture → motion gate → detector → tracker, and the
static-object finder on the same small picture → fusion → zone rules → events.

Interface for the runtime:

    pipeline = VisionPipeline(config, detector, clock=time.monotonic)
    events = pipeline.process(frame_bgr, t)      # list[BagEvent]; t: seconds (None: clock())

`config` is the whole `edge.config.Config` (uses zones, vision.motion, vision.static,
vision.opencv_threads, rules.bag_outside_bin, evidence); `detector` is anything with
`.detect(frame_bgr) -> list[Detection]` (cls, conf, xyxy), e.g. `make_detector(config, base_dir)`. A `BagEvent` (edge.vision.bag_rules) has kind
(reminder_due | incident_open | incident_update | incident_resolved), t, zone, place_id (key
incidents on (zone, place_id): bags far apart are separate incidents), count, dwell_s, xy and
snapshot_jpeg (the evidence JPEG for open / update / resolved; None for reminder_due) and
seen_by (which eye saw the place: detector, static or both; edge.contract.SEEN_BY).

Live: `VisionLoop(camera, pipeline, on_event)` is a thread that takes the newest frame from an
`hw.camera.CameraSource`, skipping stale frames when the detector is slower than the camera.
Replay: `replay(frames, pipeline)` runs over (frame, clip_t) pairs as fast as the CPU allows.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np

from .bag_rules import INCIDENT_RESOLVED, REMINDER_DUE, BagEvent, BagObs, BagRules
from .evidence import EvidenceMaker
from .motion import MotionGate
from .static import Blob, StaticFinder, cover
from .tracker import Tracker
from .zones import FLOOR, ZoneMap, anchor, is_held, person_overlap

log = logging.getLogger(__name__)

BAG = "garbage_bag"
PERSON = "person"
BIN = "bin"
STATIC_ID = 1_000_000  # track ids of static objects that no box names: STATIC_ID + the finder's blob id
BIN_MEMORY_S = 10.0  # bin boxes of the last runs keep vetoing the finder this long after a run that missed them
OVERLAP_SAME = 0.3  # a blob and a bag box sharing this much of the smaller one are one object
STILL_MIN_S = 1.0  # a bag must lie still this long to count: one being carried keeps moving
PERSON_MEMORY_S = 3.0  # a person missed by a run or two still holds what they carry
HELD_MEMORY_S = 5.0  # a bag seen carried this recently is still taken as carried, not left
OCCLUDED_MAX_S = 10.0  # a counted bag hidden behind a person still counts this long
PERSON_OVERLAP = 0.3  # a bag box this much covered by a person box is "with that person"
VERIFY_S = 1.0  # a known bag the detector missed is looked for again this soon (not at the slow recheck)


@dataclass
class PipelineStats:
    frames: int = 0
    detector_runs: int = 0
    detector_s: float = 0.0  # wall seconds inside detect()
    last_reason: str = ""
    static_updates: int = 0  # times the static-object finder looked
    static_s: float = 0.0  # CPU seconds inside the finder (the shared small picture counts to the gate)
    static_reported: int = 0  # frames with a static object no box names counting as a bag
    blobs: list = None  # the finder's blobs now (list[Blob])

    def __post_init__(self):
        if self.blobs is None:
            self.blobs = []


class VisionPipeline:
    def __init__(self, config, detector, clock: Callable[[], float] = time.monotonic):
        self.config = config
        self.detector = detector
        self.clock = clock
        self.zones = ZoneMap.from_config(config.zones)
        self.gate = MotionGate.from_config(config.vision.motion)
        # tracks outlive a few missed runs (identity and still time survive flicker); presence
        # itself only counts what the latest run saw, so this never delays a resolve
        self.tracker = Tracker(forget_after_s=10.0, max_misses=5)
        rule = config.rules.bag_outside_bin
        self.rules = BagRules.from_config(rule)
        self.min_conf = rule.min_conf
        self.evidence = EvidenceMaker(config.evidence, self.zones)
        self.stats = PipelineStats()
        # process-wide, on purpose: a pool buys no wall time on pictures this small and would
        # compete with the detector's own threads for the cores
        cv2.setNumThreads(config.vision.opencv_threads)
        static = config.vision.static
        self.static_mode = static.mode
        self.finder = StaticFinder.from_config(static) if static.mode != "off" else None
        self._bins: list[tuple] = []  # bin boxes of the latest run that saw bins
        self._bins_t = -1e9
        self._eyes: dict[int, set[str]] = {}  # track id -> eyes that saw it count (detector / static / both)
        self._place_eyes: dict[int, set[str]] = {}  # place id -> eyes that saw it during its episode
        self._not_left: set[int] = set()  # blobs the detector saw as a bag that does not count (carried)
        self._held_at: dict[int, float] = {}  # bag track id -> last time it was seen carried
        self._counted: set[int] = set()  # bag tracks that have counted as left at least once

    def process(self, frame: np.ndarray, t: float | None = None) -> list[BagEvent]:
        """One frame in, the bag events due at time t out."""
        if t is None:
            t = self.clock()
        self.stats.frames += 1
        finder_due = self.finder is not None and self.finder.due(t)
        small = self.gate.small(frame) if (self.gate.enabled or finder_due) else None  # one picture for both
        decision = self.gate.check(frame, t, small)
        self.stats.last_reason = decision.reason
        if decision.run:
            t0 = time.perf_counter()
            found = self.detector.detect(frame)
            dets = [d for d in found if d.cls in (BAG, PERSON)]
            self.stats.detector_s += time.perf_counter() - t0
            bins = [tuple(d.xyxy) for d in found if d.cls == BIN]
            if bins or t - self._bins_t > BIN_MEMORY_S:
                self._bins, self._bins_t = bins, t
            self.stats.detector_runs += 1
            self.tracker.update(dets, t)
            if any(tr.misses or (tr.cls == BAG and tr.hits < self.tracker.min_hits) for tr in self.tracker.tracks):
                # one miss is not "gone", one sighting is not "there": look again soon rather than at
                # the slow recheck, so both rest on several runs
                self.gate.request(t + VERIFY_S)
        if finder_due:
            c0 = time.process_time()
            persons = [tr.xyxy for tr in self.tracker.tracks  # people seen lately, not ghosts of tracks
                       if tr.cls == PERSON and (tr.misses <= 1 or t - tr.last_seen <= PERSON_MEMORY_S)]
            self.stats.blobs = self.finder.update(small, t, (frame.shape[1], frame.shape[0]), persons, self._bins)
            self.stats.static_s += time.process_time() - c0
            self.stats.static_updates += 1
        present = self.fuse(self.bags_outside(t), self.stats.blobs if self.finder is not None else [], t)
        events = self.rules.update(t, present)
        for pid, ids in self.rules.tracks_by_place().items():
            eyes = self._place_eyes.setdefault(pid, set())
            for i in ids:
                eyes |= self._eyes.get(i, set())
        for ev in events:
            ev.seen_by = self._seen_by(ev)
        evidenced = [ev for ev in events if ev.kind != REMINDER_DUE]
        if evidenced:  # the boxes are the same for every event of this frame
            boxes = {tr.id: tr.xyxy for tr in self.tracker.tracks}
            blobs = {STATIC_ID + b.id: b for b in self.stats.blobs}
            persons = self._person_boxes()
            for ev in evidenced:
                bags = [(f"bag #{i}", boxes[i]) for i in ev.track_ids if i in boxes and ev.count]
                outlines = [(f"object #{i - STATIC_ID}", blobs[i].outline) for i in ev.track_ids
                            if i in blobs and ev.count]
                if ev.count:  # a bag the finder also saw: its outline too
                    outlines += [("", b.outline) for b in self.stats.blobs if STATIC_ID + b.id not in ev.track_ids
                                 and any(i in boxes and _same_object(boxes[i], b.xyxy) for i in ev.track_ids)]
                ev.snapshot_jpeg = self.evidence(frame, bags, persons, outlines=outlines)
        for ev in events:
            if ev.kind == INCIDENT_RESOLVED:
                self._place_eyes.pop(ev.place_id, None)
                for i in ev.track_ids:
                    self._eyes.pop(i, None)
        if len(self._place_eyes) > 64:  # places that ended without an incident
            alive = set(self.rules.tracks_by_place())
            self._place_eyes = {k: v for k, v in self._place_eyes.items() if k in alive}
        return events

    def fuse(self, present: dict[str, list[BagObs]], blobs: list[Blob], now: float) -> dict[str, list[BagObs]]:
        """The two eyes together. A counted bag that a static blob covers was seen by both; a blob
        that no bag box covers counts as a bag of its own (seen by the finder only) when
        `vision.static.mode` is enabled and it lies on the floor outside the bins; a blob on a
        bag box the detector sees now but does not count (carried, moving, put into a bin) is that
        bag and does not count either, for as long as the blob lives; so is one on a bag that was
        carried moments ago (the detector may have missed it on its latest run)."""
        boxes = {tr.id: tr.xyxy for tr in self.tracker.tracks}
        claimed: set[int] = set()
        for obs in (o for bags in present.values() for o in bags):
            hit = [b.id for b in blobs if obs.track_id in boxes and _same_object(boxes[obs.track_id], b.xyxy)]
            claimed.update(hit)
            self._eyes.setdefault(obs.track_id, set()).add("both" if hit else "detector")
        if self.static_mode != "enabled":
            return present
        # a confirmed bag only: one unconfirmed sighting (a chair the detector half takes for a
        # bag on one run) must not make the finder's object "that bag" for the blob's whole life
        seen_now = [tr.xyxy for tr in self.tracker.confirmed(BAG)
                    if tr.seen_now or now - self._held_at.get(tr.id, -1e9) < HELD_MEMORY_S]
        self._not_left &= {b.id for b in blobs}
        for b in blobs:
            if b.id in claimed:
                continue
            if b.id in self._not_left or any(_same_object(box, b.xyxy) for box in seen_now):
                self._not_left.add(b.id)
                continue
            zone = self.zones.locate(b.xyxy)
            if zone != FLOOR:
                continue
            tid = STATIC_ID + b.id
            present.setdefault(zone, []).append(BagObs(tid, b.since, anchor(b.xyxy)))
            self._eyes.setdefault(tid, set()).add("static")
            self.stats.static_reported += 1
        if len(self._eyes) > 256:  # forget tracks and blobs that are gone
            alive = set(boxes) | {STATIC_ID + b.id for b in blobs}
            self._eyes = {k: v for k, v in self._eyes.items() if k in alive}
        return present

    def _seen_by(self, ev: BagEvent) -> str:
        """Which eye saw the place during its episode (edge.contract.SEEN_BY)."""
        eyes = set(self._place_eyes.get(ev.place_id, set()))
        for i in ev.track_ids:
            eyes |= self._eyes.get(i, set())
        if "both" in eyes or {"detector", "static"} <= eyes:
            return "both"
        return "static" if eyes == {"static"} else "detector"

    def bags_outside(self, now: float) -> dict[str, list[BagObs]]:
        """The bags that count now, per zone: confirmed garbage_bag tracks seen by the latest
        detector run (or hidden behind a person after they had counted), confident enough,
        anchored on the floor outside every bin, not carried by a person (nor moments ago), not a
        new box on top of a person, and lying still for at least STILL_MIN_S."""
        # a person missed by one run (or seen moments ago) still holds what they carry; when people
        # really leave, the motion they make runs the detector often, so such ghosts fade fast
        persons = [t.xyxy for t in self.tracker.tracks
                   if t.cls == PERSON and (t.misses <= 1 or now - t.last_seen <= PERSON_MEMORY_S)]
        persons_now = [t.xyxy for t in self.tracker.tracks if t.cls == PERSON and t.seen_now]
        present: dict[str, list[BagObs]] = {}
        if len(self._held_at) + len(self._counted) > 64:  # forget tracks that are gone
            alive = {t.id for t in self.tracker.tracks}
            self._held_at = {k: v for k, v in self._held_at.items() if k in alive}
            self._counted &= alive
        for tr in self.tracker.confirmed(BAG):
            if tr.conf < self.min_conf:
                continue
            zone = self.zones.locate(tr.xyxy)
            if zone != FLOOR:
                continue
            if is_held(tr.xyxy, persons):
                self._held_at[tr.id] = now
                continue
            if now - self._held_at.get(tr.id, -1e9) < HELD_MEMORY_S:
                continue  # carried moments ago: its person may just be hidden or missed
            if not tr.seen_now:
                # a bag that is gone stops counting at once (its track lives on a little to bridge
                # flicker), except one already counted that a person seen now stands in front of
                hidden = person_overlap(tr.xyxy, persons_now) >= PERSON_OVERLAP
                if not (tr.id in self._counted and hidden and now - tr.last_seen <= OCCLUDED_MAX_S):
                    continue
            elif tr.id not in self._counted and person_overlap(tr.xyxy, persons) >= PERSON_OVERLAP:
                continue  # new and on a person: maybe part of them, or just put down; wait until they move off
            if now - tr.still_since < STILL_MIN_S:
                continue  # still moving
            self._counted.add(tr.id)
            present.setdefault(zone, []).append(BagObs(tr.id, tr.still_since, anchor(tr.xyxy)))
        return present

    def _person_boxes(self) -> list[tuple[str, tuple]]:
        return [("person", t.xyxy) for t in self.tracker.tracks if t.cls == PERSON and t.seen_now]


def _same_object(box, blob_xyxy) -> bool:
    """A bag box and a blob box that share OVERLAP_SAME of the smaller one."""
    return cover(box, blob_xyxy) >= OVERLAP_SAME


def replay(frames: Iterable[tuple[np.ndarray, float]], pipeline: VisionPipeline,
           on_event: Callable[[BagEvent], None] | None = None) -> list[BagEvent]:
    """Run the pipeline over (frame, t) pairs with their own timestamps; no real-time waiting."""
    out: list[BagEvent] = []
    for frame, t in frames:
        for ev in pipeline.process(frame, t):
            out.append(ev)
            if on_event is not None:
                on_event(ev)
    return out


def make_detector(config, base_dir: Path | None = None):
    """The detector the config names (vision.backend / model / imgsz / conf / iou / threads),
    with the crop verifier of vision.verifier around it when one is named.
    Raises the detector module's ModelError when a model is missing or unusable."""
    from ..paths import resolve_resource
    from .detector import load_detector  # imported here: the pure parts never need a model

    v = config.vision
    detector = load_detector(v.backend, str(resolve_resource(v.model, base_dir)), v.imgsz, v.conf, v.iou, v.threads)
    return with_verifier(detector, v, base_dir, v.conf)


def with_verifier(detector, vision, base_dir: Path | None, conf: float):
    """detector, its bags rescored by vision.verifier's model (unchanged when that is "")."""
    if not vision.verifier.model:
        return detector
    from ..paths import resolve_resource
    from .verifier import CropVerifier, VerifiedDetector

    verifier = CropVerifier(resolve_resource(vision.verifier.model, base_dir), vision.threads)
    return VerifiedDetector(detector, verifier, vision.verifier.weight, conf)


class VisionLoop:
    """Live: a thread that feeds the newest camera frame to the pipeline.

    on_event(BagEvent) is called from this thread for every event; on_health(health) is called
    whenever the camera's health status changes (ok / fault), so the runtime can open and resolve
    `camera_fault` incidents. Frames are timed with the camera's own timestamps (monotonic).
    """

    def __init__(self, camera, pipeline: VisionPipeline, on_event: Callable[[BagEvent], None],
                 on_health: Callable[[object], None] | None = None, poll_s: float = 0.01):
        self.camera = camera
        self.pipeline = pipeline
        self.on_event = on_event
        self.on_health = on_health
        self.poll_s = poll_s
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.last_error: str | None = None
        self._beat = time.monotonic()

    def heartbeat(self) -> float:
        """For the watchdog: the older of this loop's last round and the camera's capture beat."""
        if self._thread is None or not self._thread.is_alive():
            return float("-inf")
        camera_beat = self.camera.heartbeat() if hasattr(self.camera, "heartbeat") else time.monotonic()
        return min(self._beat, camera_beat)

    def start(self) -> None:
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="vision", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def _run(self) -> None:
        last_t: float | None = None
        last_status: str | None = None
        while not self._stop.is_set():
            self._beat = time.monotonic()
            health = self.camera.health()
            if health.status != last_status:
                last_status = health.status
                if self.on_health is not None:
                    self.on_health(health)
            got = self.camera.latest()
            if got is None or got[1] == last_t:
                self._stop.wait(self.poll_s)
                continue
            frame, last_t = got
            try:
                events = self.pipeline.process(frame, last_t)
            except Exception as e:  # a detector failure must not kill the loop; logged, retried next frame
                self.last_error = str(e)
                log.exception("vision pipeline failed on a frame")
                self._stop.wait(1.0)
                continue
            for ev in events:
                try:
                    self.on_event(ev)
                except Exception:
                    log.exception("bag event handler failed")

