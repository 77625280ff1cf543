"""The agent: builds every part from the config and routes what they see.

    camera ─▶ VisionLoop ─┐
    sensors ─▶ SensorManager ─┼─▶ event queue ─▶ the incident thread ─▶ IncidentBook ─▶ Outbox ─▶ Uplink
    camera health ─────────┘                         │
                                                     ├─▶ voice (policy + worker), relays
                                                     └─▶ listener (the demo's live printout)

What an event means is decided by the pure `Router` (edge.runtime.router); the agent builds
the parts and runs the threads. One thread (`incidents`) owns the router and carries its
decisions out (outbox, voice worker, relay drivers, listener); the camera, sensor and uplink
threads only put events on a bounded queue.
The supervisor (`edge.runtime.service`) calls `tick()` twice a second for timers, telemetry
and the watchdog. The control socket's thread (`edge.runtime.control`: the console, `gedge
status`) reads only snapshots through the `control_*` methods; a relay test goes to the
incident thread as an event like any other.
"""
from __future__ import annotations

import logging
import os
import queue
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

from hw.camera import redact

from ..config import Config
from ..files import STATE_DIR_MODE
from ..incidents import SnapshotStore
from ..logfmt import event_line
from ..outbox import Outbox
from ..uplink.sysinfo import cpu_temp_c, disk_free_mb
from ..uplink.telemetry import TelemetrySchedule, build_telemetry
from .control_state import RECENT_RESOLVED, IncidentLog, build_state, readings_view, relays_view
from .health import assemble_health, summary_line
from .liveness import Liveness
from .router import Decisions, Router

log = logging.getLogger(__name__)

Listener = Callable[[dict[str, Any]], None]
EVENT_QUEUE_SIZE = 1000
LOOPS = ("camera", "sensors", "uplink")
INTEGRITY_CHECK_S = 600.0  # how often the outbox file is checked while running
_UNTOLD = object()
IDLE_S = 0.5  # the router's timers (relay hold, restart grace) run at least this often


@dataclass
class _Counters:
    started_at: float = field(default_factory=time.monotonic)
    dropped_events: int = 0
    incidents_opened: int = 0
    incidents_resolved: int = 0
    events: int = 0


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
        # kept by the incident thread: other threads must not walk the (unlocked) router
        self._open_count = 0
        self.incident_log = IncidentLog()  # what the control socket shows: written by the incident thread
        self._awaiting_readings = False  # restored sensor incidents wait for a fresh reading
        # what the router was last told about the disk (nothing yet: the first idle tells it, which
        # also resolves a storage_fault restored from before a restart)
        self._storage_problem: str | None | object = _UNTOLD
        self._last_integrity_check = time.monotonic()
        self.liveness = Liveness(max_age_s=max(cfg.camera.stall_timeout_s, 10.0) * 2, required=LOOPS)
        self.outbox: Outbox | None = None
        self.snapshots: SnapshotStore | None = None
        self.router: Router | None = None
        self.uplink = None
        self.voice = None
        self.relays: list = []
        self.sensors = None
        self.stats = None  # edge.stats.service.StatsService: daily statistics, collection_overdue
        self.camera = None
        self.vision = None
        self.telemetry = TelemetrySchedule(cfg.uplink.telemetry_s)

    # ------------------------------------------------------------------ build / start / stop

    def start(self) -> None:
        """Build and start every part. Raises (ModelError, SecretError, CameraError…) with a clear
        message when the config names something that cannot be used."""
        cfg = self.cfg
        prepare_state_dir(Path(cfg.storage.state_dir))
        Path(cfg.storage.cache_dir).mkdir(parents=True, exist_ok=True)
        self.outbox = Outbox.from_config(cfg)
        self.snapshots = SnapshotStore.from_config(cfg)
        from ..uplink import Uplink

        self.uplink = Uplink.from_config(cfg, self.outbox, self.snapshots, base_dir=self.base_dir,
                                         allow_missing_token=self.allow_missing_token,
                                         on_delivered=self._on_delivered)
        detector = self._detector or self._make_detector()
        self._start_voice()
        from ..actuators import build_relays

        self.relays = build_relays(cfg)
        self.router = Router(cfg, self.voice.policy, {r.id: r.policy for r in self.relays},
                             restored=self.outbox.open_incidents(), mono=time.monotonic())
        self._open_count = self.router.open_count()
        self._awaiting_readings = self.router.awaiting_readings()
        self.incident_log = IncidentLog(restored=[*self.outbox.resolved_incidents(RECENT_RESOLVED),
                                                  *self.router.open_incidents()])
        if self.outbox.recovered:  # a damaged file was moved aside at open: the platform hears so
            self._carry_out(self.router.outbox_replaced(self.outbox.recovered, time.time()))
        self._thread = threading.Thread(target=self._run_incidents, name="incidents", daemon=True)
        self._thread.start()
        self.uplink.start()
        self._start_stats()
        self._start_sensors()
        self._start_vision(detector)
        log.info("agent started: device %s, camera %s, %d sensor(s), %d relay(s)", cfg.device.id,
                 redact(cfg.camera.source), len(cfg.sensors), len(self.relays))

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

        self.sensors = SensorManager(self.cfg, on_reading=self._on_reading, on_event=self._on_sensor_event)
        self.sensors.start()

    def _start_stats(self) -> None:
        if self.cfg.stats.enabled:
            from ..stats.service import StatsService

            self.stats = StatsService.from_config(self.cfg, self.outbox, open_incidents=self.outbox.open_incidents())

    def _on_sensor_event(self, event) -> None:
        if self.stats is not None:
            self.stats.alarm(event, time.time())
        self._put(("alarm", event))

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
        if self.stats is not None:
            self.stats.close(time.time())
        if self.outbox is not None:
            held = self.outbox.held()
            if held and not self.outbox.flush():
                # the platform may have them (sent from memory); this box's disk never will
                log.error("stopping with %d revision(s) the disk refused (%s); they are not on disk",
                          held, self.outbox.storage_error)
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
        if self.stats is not None:
            self.stats.reading(reading, time.time())
        if self._awaiting_readings:  # only while restored incidents wait for fresh readings
            self._put(("reading", reading))

    # ------------------------------------------------------------------ the incident thread

    def _run_incidents(self) -> None:
        last_idle = time.monotonic()
        while True:
            self._incident_beat = time.monotonic()
            try:
                kind, payload = self._events.get(timeout=IDLE_S)
                self.counters.events += 1
            except queue.Empty:
                if self._stop.is_set():
                    return
                kind, payload = "idle", None
            if kind != "idle":
                self._handle(kind, payload)
            # timers (relay hold, restart grace, the disk's state) run under a steady stream of events too
            if kind == "idle" or time.monotonic() - last_idle >= IDLE_S:
                last_idle = time.monotonic()
                self._handle("idle", None)

    def _handle(self, kind: str, payload) -> None:
        try:
            self._carry_out(self._route(kind, payload))
        except Exception:
            log.exception("handling %s event failed", kind)

    def _route(self, kind: str, payload) -> Decisions:
        """Hand one event to the router (doing the I/O it needs first: the evidence picture)."""
        now, mono = time.time(), time.monotonic()
        r = self.router
        if kind == "bag":
            jpeg = self._stamp(payload.snapshot_jpeg, now, r.incident_id_for(payload))
            meta, pruned = self._store_snapshot(jpeg)
            return r.bag(payload, now, mono, snapshot=meta, pruned=pruned)
        if kind == "alarm":
            return r.alarm(payload, now, mono)
        if kind == "reading":
            return r.reading(payload, now, mono)
        if kind == "relay_test":  # from the control socket: the router's relay policy decides
            rid, seconds, reply = payload
            d, outcome = r.relay_test(rid, seconds, mono)
            reply.put_nowait(outcome)
            return d
        if kind == "camera":
            self._camera_status = payload.status
            self._state_changed.set()
            return r.camera(payload.status, payload.reason, now, mono)
        d = r.idle(now, mono)
        if self.outbox.damaged:  # found by the integrity check or a read: replace it now
            d += r.outbox_replaced(self.outbox.replace_damaged(r.open_incidents()), now)
        problem = self.outbox.storage_error
        if problem != self._storage_problem:
            self._storage_problem = problem
            d += r.storage(problem, now, mono)
            self._state_changed.set()
        return d

    def _stamp(self, jpeg: bytes | None, now: float, incident_id: str | None) -> bytes | None:
        """The evidence picture with its time, device, point and incident id in a corner and in its EXIF."""
        if not jpeg:
            return jpeg
        from zoneinfo import ZoneInfo

        from ..vision.stamp import Stamp, stamp_jpeg

        device = self.cfg.device
        try:
            return stamp_jpeg(jpeg, Stamp(now, ZoneInfo(device.timezone), device.id, device.site.point_id, incident_id),
                              self.cfg.evidence.jpeg_quality)
        except ValueError as e:  # an undecodable picture still goes out as it was
            log.error("evidence picture not stamped (%s)", e)
            return jpeg

    def _store_snapshot(self, jpeg: bytes | None) -> tuple[dict | None, list[str]]:
        """Store an evidence picture: (its block, pictures pruned for it). A picture the disk
        refuses is left out: the incident goes without it."""
        if not jpeg:
            return None, []
        try:
            return self.snapshots.put_pruning(jpeg)
        except OSError as e:
            log.error("evidence picture not stored (%s); the incident goes without it", e)
            return None, []

    def _carry_out(self, d: Decisions) -> None:
        for doc in d.revisions:
            self._enqueue(doc)
        for req in d.voice:
            self.voice.worker.say(req)
        relays = {r.id: r for r in self.relays}
        for switch in d.relays:
            relays[switch.id].apply(switch.on, switch.reason)
            self._emit({"what": "relay", "id": switch.id, "on": switch.on})
            self._state_changed.set()
        for note in d.notes:
            self._emit(note)
        self._open_count = self.router.open_count()
        self._awaiting_readings = self.router.awaiting_readings()

    def _enqueue(self, doc: dict) -> None:
        # never raises for a full or read-only disk: the outbox keeps the revision in memory
        self.outbox.enqueue_incident(doc)
        self.incident_log.record(doc)
        if doc["rev"] == 1 and doc["state"] == "open":
            self.counters.incidents_opened += 1
        if doc["state"] == "resolved":
            self.counters.incidents_resolved += 1
        self._state_changed.set()
        self._emit({"what": "incident", "id": doc["id"], "rev": doc["rev"], "type": doc["type"],
                    "state": doc["state"], "subject": doc["subject"], "measurements": doc["measurements"],
                    "snapshot": doc["snapshot"]})

    def _emit(self, event: dict[str, Any]) -> None:
        log.info("%s", event_line(event))
        if event.get("what") == "voice" and self.stats is not None:
            self.stats.spoken(time.time())  # the day's reminders spoken
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
        if self.outbox.storage_error is not None:
            self.outbox.flush()  # the disk may take the waiting revisions again
        if mono - self._last_integrity_check >= INTEGRITY_CHECK_S:
            self._last_integrity_check = mono
            self.outbox.check()
        if self.telemetry.due(mono, changed=self._state_changed.is_set()):
            self._state_changed.clear()
            self.telemetry.sent(mono)
            try:
                self.outbox.enqueue_telemetry(self.telemetry_document())
            except Exception:
                log.exception("telemetry could not be queued")
        if self.stats is not None:
            try:  # collection_overdue goes through the router like the sensors' own alarms
                for ev in self.stats.tick(time.time(), camera_ok=self._camera_status == "ok"):
                    self._put(("alarm", ev))
            except Exception:
                log.exception("statistics tick failed")

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

    def stale_loops(self, now: float | None = None) -> list[str]:
        return self.liveness.stale(time.monotonic() if now is None else now)

    def readings(self) -> dict[str, dict[str, Any]]:
        with self._readings_lock:
            return {k: dict(v) for k, v in self._readings.items()}

    def health(self) -> dict[str, Any]:
        return assemble_health(
            uptime_s=time.monotonic() - self.counters.started_at, camera=self._camera_status,
            sensors=self.sensors.snapshot() if self.sensors is not None else {},
            voice=self.voice.worker.health() if self.voice is not None else {},
            relays={r.id: r.is_on for r in self.relays}, open_incidents=self._open_count,
            dropped_events=self.counters.dropped_events, disk_free_mb=disk_free_mb(self.cfg.storage.state_dir),
            cpu_temp_c=cpu_temp_c(), storage=self.outbox.storage() if self.outbox is not None else None)

    def telemetry_document(self) -> dict[str, Any]:
        return build_telemetry(self.cfg.device.id, self.cfg.device.timezone, time.time(), self.readings(), self.health(),
                               self.outbox.counts())

    # ------------------------------------------------------------------ the control socket's thread

    def control_state(self, agent_info: dict[str, Any]) -> dict[str, Any]:
        """The control socket's `state`, from the snapshots the parts keep (never the router's
        own state: that belongs to the incident thread)."""
        from hw.camera import redact

        now, mono = time.time(), time.monotonic()
        cam = self.camera.health() if self.camera is not None else None
        camera = {"status": self._camera_status, "source": redact(self.cfg.camera.source),
                  "fps": round(cam.fps, 1) if cam else None, "size": list(cam.size) if cam and cam.size else None,
                  "reason": cam.reason if cam else None}
        info = {**agent_info, "uptime_s": round(mono - self.counters.started_at, 1), "events": self.counters.events,
                "incidents_opened": self.counters.incidents_opened,
                "incidents_resolved": self.counters.incidents_resolved}
        return build_state(self.cfg, agent=info, health=self.health(), camera=camera,
                           readings=readings_view(self.cfg, self.sensors.snapshot() if self.sensors else {}, now - mono),
                           relays=relays_view(self.cfg, self.relays), incidents=self.incident_log.snapshot(),
                           outbox=self.uplink.health() if self.uplink is not None else {}, now=now)

    def control_frame(self):
        """(the newest camera frame, its capture time in epoch seconds) or None before the first."""
        latest = self.camera.latest() if self.camera is not None else None
        if latest is None:
            return None
        frame, t = latest
        return frame, time.time() - (time.monotonic() - t)

    def control_speak(self) -> bool:
        """The speaker test phrase through the voice worker (queued; False when the queue is full)."""
        from ..voice import PlayRequest

        policy, now = self.voice.policy, time.time()
        lang = policy.cfg.lang
        return self.voice.worker.say(PlayRequest(
            prompt="speaker_test", text=policy.catalogue.text("speaker_test", lang), lang=lang,
            voice=policy.cfg.voice_for(lang), rate=policy.cfg.rate, volume=policy.volume_at(now), zone=None,
            incident_id=None, due_at=now))

    def control_relay_test(self, rid: str, seconds: float, timeout_s: float = 3.0) -> str:
        """Ask the incident thread to test relay `rid`; its router's outcome ("on", "unknown",
        "busy", "min_off"), or "timeout" when the incident thread did not answer in time."""
        reply: queue.Queue = queue.Queue(maxsize=1)
        self._put(("relay_test", (rid, seconds, reply)))
        try:
            return reply.get(timeout=timeout_s)
        except queue.Empty:
            return "timeout"

    def voice_memory(self) -> dict | None:
        """The voice policy's memory of what was said, for the agent that replaces this one."""
        return self.voice.policy.memory() if self.voice is not None else None

    def summary(self) -> str:
        """One short line for systemd's STATUS=."""
        h = self.uplink.health() if self.uplink is not None else {"pending": 0, "dead_letters": 0}
        return summary_line(self._camera_status, len(self.cfg.sensors), self._open_count, h["pending"],
                            h["dead_letters"], self.outbox.storage_error if self.outbox is not None else None)


class StateDirError(OSError):
    """The state directory is missing and cannot be made, or cannot be written."""


def prepare_state_dir(folder: Path) -> None:
    """Make the state directory (0750) and prove it takes a file, with one clear line when not."""
    try:
        folder.mkdir(parents=True, exist_ok=True, mode=STATE_DIR_MODE)
        if folder.stat().st_uid == os.geteuid():
            os.chmod(folder, STATE_DIR_MODE)
        probe = folder / f".write-test-{os.getpid()}"
        probe.write_bytes(b"")
        probe.unlink()
    except OSError as e:
        raise StateDirError(f"state directory {folder} is not usable: {e.strerror or e}") from None
