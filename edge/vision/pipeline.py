"""The vision pipeline: camera frame → motion gate → detector → tracker → zone rules → events.

Interface for the runtime:

    pipeline = VisionPipeline(config, detector, clock=time.monotonic)
    events = pipeline.process(frame_bgr, t)      # list[BagEvent]; t: seconds (None: clock())

`config` is the whole `edge.config.Config` (uses zones, vision.motion, rules.bag_outside_bin,
evidence); `detector` is anything with `.detect(frame_bgr) -> list[Detection]` (cls, conf, xyxy),
e.g. `make_detector(config, base_dir)`. A `BagEvent` (edge.vision.bag_rules) has kind
(reminder_due | incident_open | incident_update | incident_resolved), t, zone, place_id (key
incidents on (zone, place_id): bags far apart are separate incidents), count, dwell_s, xy and
snapshot_jpeg (the evidence JPEG for open / update / resolved; None for reminder_due).

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
from typing import Callable, Iterable, Iterator

import numpy as np

from .bag_rules import REMINDER_DUE, BagEvent, BagObs, BagRules
from .evidence import EvidenceMaker
from .motion import MotionGate
from .tracker import Tracker
from .zones import FLOOR, ZoneMap, anchor, is_held, person_overlap

log = logging.getLogger(__name__)

BAG = "garbage_bag"
PERSON = "person"
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
        self._held_at: dict[int, float] = {}  # bag track id -> last time it was seen carried
        self._counted: set[int] = set()  # bag tracks that have counted as left at least once

    def process(self, frame: np.ndarray, t: float | None = None) -> list[BagEvent]:
        """One frame in, the bag events due at time t out."""
        if t is None:
            t = self.clock()
        self.stats.frames += 1
        decision = self.gate.check(frame, t)
        self.stats.last_reason = decision.reason
        if decision.run:
            t0 = time.perf_counter()
            dets = [d for d in self.detector.detect(frame) if d.cls in (BAG, PERSON)]
            self.stats.detector_s += time.perf_counter() - t0
            self.stats.detector_runs += 1
            self.tracker.update(dets, t)
            if any(tr.misses or (tr.cls == BAG and tr.hits < self.tracker.min_hits) for tr in self.tracker.tracks):
                # one miss is not "gone", one sighting is not "there": look again soon rather than at
                # the slow recheck, so both rest on several runs
                self.gate.request(t + VERIFY_S)
        present = self.bags_outside(t)
        events = self.rules.update(t, present)
        evidenced = [ev for ev in events if ev.kind != REMINDER_DUE]
        if evidenced:  # the boxes are the same for every event of this frame
            boxes = {tr.id: tr.xyxy for tr in self.tracker.tracks}
            persons = self._person_boxes()
            for ev in evidenced:
                bags = [(f"bag #{i}", boxes[i]) for i in ev.track_ids if i in boxes and ev.count]
                ev.snapshot_jpeg = self.evidence(frame, bags, persons)
        return events

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
    """The detector the config names (vision.backend / model / imgsz / conf / iou / threads).
    Raises the detector module's ModelError when the model is missing or unusable."""
    from ..paths import resolve_resource
    from .detector import load_detector  # imported here: the pure parts never need a model

    v = config.vision
    return load_detector(v.backend, str(resolve_resource(v.model, base_dir)), v.imgsz, v.conf, v.iou, v.threads)


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


def iter_frames_at(frames: Iterator[np.ndarray], fps: float, t0: float = 0.0) -> Iterator[tuple[np.ndarray, float]]:
    """Timestamps for frames that come without them: t0 + i / fps."""
    for i, f in enumerate(frames):
        yield f, t0 + i / fps
