"""The agent: builds every part from the config and routes what they see.

    camera ─▶ VisionLoop ─┐
    sensors ─▶ SensorManager ─┼─▶ event queue ─▶ the incident thread ─▶ IncidentBook ─▶ Outbox ─▶ Uplink
    camera health ─────────┘                         │
                                                     ├─▶ voice (policy + worker), relays
                                                     └─▶ listener (the demo's live printout)

One thread (`incidents`) owns the IncidentBook, the voice policy and the relays, so none of
them needs a lock; the camera, sensor and uplink threads only put events on a bounded queue.
The supervisor (`edge.runtime.service`) calls `tick()` twice a second for timers, telemetry
and the watchdog.
"""
from __future__ import annotations

import logging
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from ..config import Config
from ..incidents import IncidentBook, SnapshotStore, Subject
from ..outbox import Outbox
from ..uplink.sysinfo import cpu_temp_c, disk_free_mb
from ..uplink.telemetry import TelemetrySchedule, build_telemetry
from .liveness import Liveness

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]
EVENT_QUEUE_SIZE = 1000
LOOPS = ("camera", "sensors", "uplink")


@dataclass
class _Counters:
    started_at: float = field(default_factory=time.monotonic)
    dropped_events: int = 0
    incidents_opened: int = 0
    incidents_resolved: int = 0
    events: int = 0


# what the sensor drivers and the voice worker count that the platform sees in telemetry
SENSOR_COUNTERS = ("garbled", "reconnects", "losses", "errors")
VOICE_HEALTH = ("played", "failed", "dropped", "stale", "killed", "render_failed", "last_error")

class Agent:
    """Build with a validated Config; `start()`, then `tick()` periodically, `stop()` at the end."""

    def __init__(self, cfg: Config, base_dir: Path | None = None, *, allow_missing_token: bool = False,
                 listener: Listener | None = None, seed: int = 0, detector: Any = None,
                 on_delivered: Callable[[Any, Any], None] | None = None, voice_memory: dict | None = None):
        self.cfg = cfg
        self.base_dir = base_dir
        self.allow_missing_token = allow_missing_token
        self.listener = listener
        self.seed = seed
        self._detector = detector
        self._voice_memory = voice_memory  # from the agent this one replaces (reload)
        self._on_delivered = on_delivered
        self._events: queue.Queue = queue.Queue(maxsize=EVENT_QUEUE_SIZE)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._incident_beat = time.monotonic()
        self.counters = _Counters()
        self._readings: dict[str, dict[str, Any]] = {}
        self._readings_lock = threading.Lock()
        self._camera_status = "starting"
        self._state_changed = threading.Event()
        self._bag_places: dict[tuple[str, int], str] = {}  # (zone, place_id) -> incident subject zone
        self._unclaimed_bags: dict[str, float] = {}  # restored open bag incidents -> resolve deadline
        # kept by the incident thread: other threads must not walk the (unlocked) IncidentBook
        self._open_count = 0
        self.liveness = Liveness(max_age_s=max(cfg.camera.stall_timeout_s, 10.0) * 2, required=LOOPS)
        self.outbox: Outbox | None = None
        self.snapshots: SnapshotStore | None = None
        self.book: IncidentBook | None = None
        self.uplink = None
        self.voice = None
        self.relays: list = []
        self.sensors = None
        self.camera = None
        self.vision = None
        self.telemetry = TelemetrySchedule(cfg.uplink.telemetry_s)

    # ------------------------------------------------------------------ build / start / stop

    def start(self) -> None:
        """Build and start every part. Raises (ModelError, SecretError, CameraError…) with a clear
        message when the config names something that cannot be used."""
        cfg = self.cfg
        for folder in (cfg.storage.state_dir, cfg.storage.cache_dir):
            Path(folder).mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox.from_config(cfg)
        self.snapshots = SnapshotStore.from_config(cfg)
        self.book = IncidentBook.from_config(cfg, restore=self.outbox.open_incidents())
        rule = cfg.rules.bag_outside_bin
        grace = rule.incident_after_s + rule.clear_after_s + 30.0
        restored = self.book.open_incidents()
        self._open_count = len(restored)
        self._unclaimed_bags = {d["subject"]["zone"]: time.monotonic() + grace
                                for d in restored if d["type"] == "bag_outside_bin"}
        from ..uplink import Uplink

        self.uplink = Uplink.from_config(cfg, self.outbox, self.snapshots, base_dir=self.base_dir,
                                         allow_missing_token=self.allow_missing_token,
                                         on_delivered=self._on_delivered)
        detector = self._detector or self._make_detector()
        self._start_voice()
        from ..actuators import build_relays

        self.relays = build_relays(cfg)
        self._thread = threading.Thread(target=self._run_incidents, name="incidents", daemon=True)
        self._thread.start()
        self.uplink.start()
        self._start_sensors()
        self._start_vision(detector)
        log.info("agent started: device %s, camera %s, %d sensor(s), %d relay(s)", cfg.device.id,
                 cfg.camera.source, len(cfg.sensors), len(self.relays))

    def _make_detector(self):
        from ..vision.pipeline import make_detector

        return make_detector(self.cfg, self.base_dir)

    def _start_voice(self) -> None:
        from ..voice import build_voice

        def started(req, latency_s: float) -> None:
            self._emit({"what": "voice", "prompt": req.prompt, "zone": req.zone, "text": req.text,
                        "voice": req.voice, "rate": req.rate, "volume": req.volume,
                        "latency_ms": round(latency_s * 1000, 1)})

        self.voice = build_voice(self.cfg, on_started=started)
        if self._voice_memory:
            self.voice.policy.recall(self._voice_memory)
        self.voice.worker.start()
        self.voice.worker.prerender(self.voice.policy.render_jobs())

    def _start_sensors(self) -> None:
        from ..sensing.manager import SensorManager

        self.sensors = SensorManager(self.cfg, on_reading=self._on_reading,
                                     on_event=lambda e: self._put(("alarm", e)))
        self.sensors.start()

    def _start_vision(self, detector) -> None:
        from hw.camera import open_camera

        from ..vision.pipeline import VisionLoop, VisionPipeline

        self.camera = open_camera(self.cfg.camera, seed=self.seed)
        pipeline = VisionPipeline(self.cfg, detector)
        self.vision = VisionLoop(self.camera, pipeline, on_event=lambda e: self._put(("bag", e)),
                                 on_health=lambda h: self._put(("camera", h)))
        self.camera.start()
        self.vision.start()

    def stop(self) -> None:
        """Stop the inputs first, let the incident thread write what they said, then flush the uplink."""
        for part in (self.vision, self.camera, self.sensors):
            if part is not None:
                try:
                    part.stop()
                except Exception:
                    log.exception("stopping %s", type(part).__name__)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(5.0)
        for relay in self.relays:
            relay.close()
        if self.voice is not None:
            self.voice.worker.stop()
        if self.uplink is not None:
            self._flush_uplink(3.0)
            self.uplink.stop()
        if self.outbox is not None:
            self.outbox.close()
        log.info("agent stopped")

    def _flush_uplink(self, timeout_s: float) -> None:
        """Give pending incidents a moment to go out; what does not stays on disk for next time."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            h = self.uplink.health()
            if not h["pending"] or h["destinations"] and all(d["retry_in_s"] > 0 for d in h["destinations"].values()):
                return
            time.sleep(0.05)

    # ------------------------------------------------------------------ inputs (other threads)

    def _put(self, item) -> None:
        try:
            self._events.put_nowait(item)
        except queue.Full:  # the incident thread is stuck: never block a camera or sensor thread
            self.counters.dropped_events += 1
            log.error("event queue full; dropped %s", item[0])

    def _on_reading(self, reading) -> None:
        with self._readings_lock:
            entry = self._readings.setdefault(reading.sensor_id, {})
            if reading.value is not None:
                entry[reading.quantity] = round(float(reading.value), 3)

    # ------------------------------------------------------------------ the incident thread

    def _run_incidents(self) -> None:
        while True:
            self._incident_beat = time.monotonic()
            try:
                kind, payload = self._events.get(timeout=0.5)
            except queue.Empty:
                if self._stop.is_set():
                    return
                self._update_relays()
                self._expire_unclaimed_bags()
                continue
            self.counters.events += 1
            try:
                if kind == "bag":
                    self._on_bag(payload)
                elif kind == "alarm":
                    self._on_alarm(payload)
                elif kind == "camera":
                    self._on_camera(payload)
                elif kind == "call":
                    payload()
            except Exception:
                log.exception("handling %s event failed", kind)

    def _enqueue(self, doc: dict | None) -> None:
        if doc is None:
            return
        self.outbox.enqueue_incident(doc)
        self._open_count = len(self.book.open_incidents())
        if doc["rev"] == 1 and doc["state"] == "open":
            self.counters.incidents_opened += 1
        if doc["state"] == "resolved":
            self.counters.incidents_resolved += 1
        self._state_changed.set()
        self._emit({"what": "incident", "id": doc["id"], "rev": doc["rev"], "type": doc["type"],
                    "state": doc["state"], "subject": doc["subject"], "measurements": doc["measurements"],
                    "snapshot": doc["snapshot"]})

    def _store_snapshot(self, jpeg: bytes | None) -> dict | None:
        if not jpeg:
            return None
        meta = self.snapshots.put(jpeg)
        pruned = getattr(self.snapshots, "last_pruned", None)
        if pruned:
            for doc in self.book.forget_snapshots(pruned, time.time()):
                self._enqueue(doc)
        return meta

    def _bag_subject(self, ev, create: bool) -> Subject:
        """The incident subject of a place on the floor: the zone's name for the first pile,
        `zone-N` for another pile open at the same time (the vision pipeline keys places by
        (zone, place_id); the platform's subject only has a zone)."""
        key = (ev.zone, ev.place_id)
        label = self._bag_places.get(key)
        if label is None and create:
            taken = set(self._bag_places.values())
            # a pile still open from before a restart is the same pile when it is seen again
            label = ev.zone if ev.zone not in taken else f"{ev.zone}-{ev.place_id}"
            self._bag_places[key] = label
            self._unclaimed_bags.pop(label, None)
        return Subject(zone=label or ev.zone)

    def _on_bag(self, ev) -> None:
        now = time.time()
        measurements = {"dwell_s": round(float(ev.dwell_s), 1), "count": int(ev.count)}
        voice_key = f"bag:{ev.zone}:{ev.place_id}"
        if ev.kind == "reminder_due":
            subject = self._bag_subject(ev, create=False)
            open_doc = self.book.get("bag_outside_bin", subject) if (ev.zone, ev.place_id) in self._bag_places else None
            req = self.voice.policy.decide("bag_on_floor", ev.zone, voice_key, now)
            self._emit({"what": "reminder_due", "zone": ev.zone, "count": ev.count, "spoken": req is not None})
            if req is not None and self.voice.worker.say(req) and open_doc:
                self._enqueue(self.book.remind("bag_outside_bin", subject, now))
        elif ev.kind == "incident_open":
            subject = self._bag_subject(ev, create=True)
            doc = self.book.open("bag_outside_bin", subject, measurements, now, snapshot=self._store_snapshot(ev.snapshot_jpeg))
            reminders = self.voice.policy.reminders_for(voice_key)
            self._enqueue(doc)
            if doc and reminders and doc.get("reminders", 0) != reminders:
                self._enqueue(self.book.update("bag_outside_bin", subject, now, reminders=reminders))
        elif ev.kind == "incident_update":
            subject = self._bag_subject(ev, create=False)
            snap = self._store_snapshot(ev.snapshot_jpeg)
            kwargs = {"snapshot": snap} if snap else {}
            self._enqueue(self.book.update("bag_outside_bin", subject, now, measurements=measurements, **kwargs))
        elif ev.kind == "incident_resolved":
            subject = self._bag_subject(ev, create=False)
            self._enqueue(self.book.resolve("bag_outside_bin", subject, now, measurements={"dwell_s": measurements["dwell_s"]}))
            self._bag_places.pop((ev.zone, ev.place_id), None)
            self.voice.policy.incident_closed(voice_key)

    def _expire_unclaimed_bags(self) -> None:
        """Bag incidents restored from before a restart that the camera never saw again: resolved."""
        mono = time.monotonic()
        for label, deadline in list(self._unclaimed_bags.items()):
            if mono >= deadline:
                del self._unclaimed_bags[label]
                self._enqueue(self.book.resolve("bag_outside_bin", Subject(zone=label), time.time(),
                                                measurements={"reason": "not seen again after a restart"}))

    def _on_alarm(self, ev) -> None:
        now = time.time()
        subject = {k: ev.subject.get(k) for k in ("zone", "bin_id", "sensor_id")}
        if ev.action == "event":
            self._enqueue(self.book.event(ev.type, subject, ev.measurements, now))
        elif ev.action == "open":
            self._enqueue(self.book.open(ev.type, subject, ev.measurements, now, severity=_severity(ev.type)))
            if ev.type == "bin_full":
                self._say("bin_full", subject.get("bin_id") or subject.get("sensor_id"), now)
            elif ev.type == "odor_high":
                self._say("odor_ventilation", subject.get("sensor_id"), now)
        elif ev.action == "resolve":
            self._enqueue(self.book.resolve(ev.type, subject, now, measurements=ev.measurements))
        if ev.type == "odor_high":
            self._update_relays()

    def _on_camera(self, health) -> None:
        now = time.time()
        self._camera_status = health.status
        subject = Subject(zone="camera")
        if health.status == "fault":
            self._enqueue(self.book.open("camera_fault", subject, {"reason": health.reason or "fault"}, now,
                                         severity="critical"))
        elif health.status == "ok":
            self._enqueue(self.book.resolve("camera_fault", subject, now))
        self._state_changed.set()

    def _say(self, prompt: str, zone: str | None, now: float) -> None:
        req = self.voice.policy.decide(prompt, zone, None, now)
        if req is not None:
            self.voice.worker.say(req)

    def _odor_open(self) -> bool:
        return any(d["type"] == "odor_high" for d in self.book.open_incidents())

    def _update_relays(self) -> None:
        odor = self._odor_open()
        now = time.monotonic()
        for relay in self.relays:
            before = relay.is_on
            after = relay.update(now, odor)
            if before != after:
                self._emit({"what": "relay", "id": relay.id, "on": after})
                self._state_changed.set()

    def _emit(self, event: dict[str, Any]) -> None:
        log.info("%s", " ".join(f"{k}={v}" for k, v in event.items() if k not in ("measurements", "snapshot", "text")))
        if self.listener is not None:
            try:
                self.listener(event)
            except Exception:
                log.exception("event listener failed")

    # ------------------------------------------------------------------ supervision

    def tick(self, now: float | None = None) -> None:
        """Called by the supervisor: record loop liveness, send telemetry when due."""
        mono = time.monotonic() if now is None else now
        self._beat_loops(mono)
        if self.telemetry.due(mono, changed=self._state_changed.is_set()):
            self._state_changed.clear()
            self.telemetry.sent(mono)
            try:
                self.outbox.enqueue_telemetry(self.telemetry_document())
            except Exception:
                log.exception("telemetry could not be queued")

    def _beat_loops(self, mono: float) -> None:
        camera_beat = self.vision.heartbeat() if self.vision is not None else None
        sensor_beat = self.sensors.heartbeat() if self.sensors is not None else None
        uplink_beat = self.uplink.heartbeat() if self.uplink is not None else None
        incident_alive = mono - self._incident_beat < self.liveness.max_age_s
        for name, beat in (("camera", camera_beat), ("sensors", sensor_beat), ("uplink", uplink_beat)):
            # a loop that has nothing to run (no sensors configured, no uplink enabled) is alive
            if beat is None:
                beat = mono
            if incident_alive and beat > float("-inf"):
                self.liveness.beat(name, beat)

    def alive(self, now: float | None = None) -> bool:
        return self.liveness.all_alive(time.monotonic() if now is None else now)

    def stale_loops(self, now: float | None = None) -> list[str]:
        return self.liveness.stale(time.monotonic() if now is None else now)

    def readings(self) -> dict[str, dict[str, Any]]:
        with self._readings_lock:
            return {k: dict(v) for k, v in self._readings.items()}

    def health(self) -> dict[str, Any]:
        sensors = self.sensors.snapshot() if self.sensors is not None else {}
        voice = self.voice.worker.health() if self.voice is not None else {}
        return {
            "uptime_s": round(time.monotonic() - self.counters.started_at),
            "camera": self._camera_status,
            "sensors": {sid: s.get("state", "unknown") for sid, s in sensors.items()},
            # a bad cable shows as garbled frames and reconnects long before a sensor_fault
            "sensor_counters": {sid: {k: v for k, v in s.get("stats", {}).items() if k in SENSOR_COUNTERS}
                                for sid, s in sensors.items()},
            "voice": {k: voice.get(k) for k in VOICE_HEALTH if k in voice},
            "relays": {r.id: r.is_on for r in self.relays},
            "open_incidents": self._open_count,
            "dropped_events": self.counters.dropped_events,
            "disk_free_mb": disk_free_mb(self.cfg.storage.state_dir),
            "cpu_temp_c": cpu_temp_c(),
        }

    def telemetry_document(self) -> dict[str, Any]:
        return build_telemetry(self.cfg.device.id, self.cfg.device.timezone, time.time(), self.readings(), self.health(),
                               self.outbox.counts())

    def voice_memory(self) -> dict | None:
        """The voice policy's memory of what was said, for the agent that replaces this one."""
        return self.voice.policy.memory() if self.voice is not None else None

    def summary(self) -> str:
        """One short line for systemd's STATUS=."""
        h = self.uplink.health() if self.uplink is not None else {"pending": 0, "dead_letters": 0}
        return (f"camera {self._camera_status}, {len(self.cfg.sensors)} sensor(s), {self._open_count} open incident(s), "
                f"outbox {h['pending']} pending / {h['dead_letters']} dead")

    def call_in_incident_thread(self, fn: Callable[[], None]) -> None:
        self._put(("call", fn))


def _severity(type_: str) -> str:
    return {"bin_full": "warning", "odor_high": "warning", "sensor_fault": "critical"}.get(type_, "warning")
