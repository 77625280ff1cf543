"""`gedge doctor`: on-site checks of everything the agent needs, one result per line.

Each check returns a `Check` (name, status ok | warn | fail, detail). Nothing here changes the
box, except that the platform check sends one telemetry document (latest-value data, harmless)
to prove reachability and the token.
"""
from __future__ import annotations

import datetime as dt
import logging
import os
import shutil
import subprocess
import tempfile
import threading
import time
from dataclasses import asdict, dataclass
from email.utils import parsedate_to_datetime
from pathlib import Path
from typing import Callable

import numpy as np

log = logging.getLogger(__name__)

OK, WARN, FAIL = "ok", "warn", "fail"
CLOCK_SKEW_MAX_S = 60.0
# Where systemd/install.sh keeps the credentials the unit hands the agent (LoadCredential=).
# Doctor runs outside the unit, without $CREDENTIALS_DIRECTORY, so it reads them from here.
SYSTEM_CREDENTIALS_DIR = Path("/etc/garbage-edge/credentials")


@dataclass
class Check:
    name: str
    status: str
    detail: str

    def as_dict(self) -> dict:
        return asdict(self)


def _guard(name: str, fn: Callable[[], Check | list[Check]]) -> list[Check]:
    """A check that raises is a failed check with the reason, never a traceback for the user."""
    try:
        out = fn()
    except Exception as e:  # noqa: BLE001 - any failure of a check is reported as its result
        log.debug("check %s raised", name, exc_info=True)
        return [Check(name, FAIL, f"{type(e).__name__}: {e}")]
    return out if isinstance(out, list) else [out]


def check_camera(cfg, timeout_s: float | None = None) -> Check:
    from hw.camera import CameraError, open_camera, redact

    timeout_s = timeout_s if timeout_s is not None else min(cfg.camera.stall_timeout_s, 10.0)
    try:
        cam = open_camera(cfg.camera)
    except CameraError as e:
        return Check("camera", FAIL, str(e))
    cam.start()
    try:
        got = cam.wait_frame(timeout_s)
        health = cam.health()
    finally:
        cam.stop(timeout=2.0)
    where = redact(cfg.camera.source)
    if got is None:
        return Check("camera", FAIL, f"{where}: no frame within {timeout_s:g} s ({health.reason or health.status})")
    frame, _ = got
    return Check("camera", OK, f"{where}: {frame.shape[1]}x{frame.shape[0]} frame arrived")


def check_model(cfg, base_dir: Path | None) -> Check:
    from ..paths import resolve_resource
    from ..vision.detector import ModelError
    from ..vision.pipeline import make_detector

    path = resolve_resource(cfg.vision.model, base_dir)
    try:
        detector = make_detector(cfg, base_dir)
    except ModelError as e:
        return Check("detector", FAIL, str(e))
    frame = np.zeros((cfg.camera.height, cfg.camera.width, 3), np.uint8)
    t0 = time.perf_counter()
    detector.detect(frame)
    ms = (time.perf_counter() - t0) * 1000
    return Check("detector", OK, f"{cfg.vision.backend} {path.name} at {cfg.vision.imgsz}: first inference {ms:.0f} ms")


def check_sensors(cfg, wait_s: float | None = None) -> list[Check]:
    """Each sensor must give a valid reading within its timeout (at most wait_s)."""
    from ..sensing.manager import SensorManager

    if not cfg.sensors:
        return [Check("sensors", WARN, "no sensors configured")]
    first: dict[str, object] = {}
    done = threading.Event()

    def on_reading(r) -> None:
        if r.value is not None and r.sensor_id not in first:
            first[r.sensor_id] = r
            if len(first) == len(cfg.sensors):
                done.set()

    limit = wait_s if wait_s is not None else min(max(s.timeout_s for s in cfg.sensors), 15.0)
    mgr = SensorManager(cfg, on_reading=on_reading)
    mgr.start()
    try:
        done.wait(limit)
        snap = mgr.snapshot()
    finally:
        mgr.stop()
    out = []
    for s in cfg.sensors:
        r = first.get(s.id)
        where = s.port or s.driver
        if r is None:
            status = (snap.get(s.id) or {}).get("status") or "no valid reading"
            out.append(Check(f"sensor {s.id}", FAIL, f"{s.driver} on {where}: nothing valid within {limit:g} s ({status})"))
        else:
            out.append(Check(f"sensor {s.id}", OK, f"{s.driver} on {where}: {r.quantity} = {r.value:g} {r.unit}".rstrip()))
    return out


def check_audio(cfg) -> list[Check]:
    from hw.audio.player import AplayPlayer
    from hw.audio.wav import WavInfo, write_wav

    out = []
    if not cfg.voice.enabled:
        return [Check("audio", OK, "voice disabled in the config")]
    espeak = shutil.which("espeak-ng")
    out.append(Check("speech", OK if espeak else FAIL,
                     "espeak-ng found" if espeak else "espeak-ng is not installed (apt-get install espeak-ng)"))
    if cfg.voice.player.strip() == "sim":
        out.append(Check("speaker", WARN, "voice.player is sim: prompts are only logged"))
        return out
    # the agent's own player, on 0.2 s of silence
    player = AplayPlayer(cfg.voice.player, cfg.voice.alsa_device)
    if not shutil.which(player.argv[0]):
        out.append(Check("speaker", FAIL, f"player {player.argv[0]!r} not found (apt-get install alsa-utils)"))
        return out
    rate = 16000
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "silence.wav"
        write_wav(wav, np.zeros(rate // 5, np.float32), WavInfo(1, rate, rate // 5, 2))
        result = player.play(wav, 10.0)
    device = cfg.voice.alsa_device or "default device"
    if result.ok:
        out.append(Check("speaker", OK, f"{player.argv[0]} played on {device}"))
    else:
        out.append(Check("speaker", FAIL, f"{device}: {result.error}"))
    return out


def _use_system_credentials() -> None:
    """Outside systemd, find credentials where the unit's LoadCredential= takes them from."""
    if not os.environ.get("CREDENTIALS_DIRECTORY") and SYSTEM_CREDENTIALS_DIR.is_dir():
        os.environ["CREDENTIALS_DIRECTORY"] = str(SYSTEM_CREDENTIALS_DIR)


def check_platform(cfg, base_dir: Path | None) -> list[Check]:
    _use_system_credentials()
    out = []
    if cfg.uplink.http.enabled:
        out.extend(_guard("platform", lambda: _check_http(cfg, base_dir)))
    if cfg.uplink.mqtt.enabled:
        out.extend(_guard("mqtt broker", lambda: _check_mqtt(cfg, base_dir)))
    if not out:
        out.append(Check("platform", FAIL, "no uplink enabled: incidents would never leave the box"))
    return out


def _check_http(cfg, base_dir: Path | None) -> list[Check]:
    import requests

    from ..uplink.http import HttpTransport
    from ..uplink.secrets import SecretError, read_secret
    from ..uplink.telemetry import build_telemetry

    http = cfg.uplink.http
    try:
        token = read_secret(http.token_file, http.token_credential, base_dir, what="platform token")
    except SecretError as e:
        return [Check("platform token", FAIL, str(e))]
    checks = [Check("platform token", OK if token else WARN, "readable" if token else "none configured")]
    transport = HttpTransport.from_config(cfg, base_dir, allow_missing_token=True)
    doc = build_telemetry(cfg.device.id, cfg.device.timezone, time.time(), {}, {"doctor": True})
    import json

    outcome = transport.send("telemetry", None, json.dumps(doc).encode())
    if outcome.kind == "ok":
        checks.append(Check("platform", OK, f"{http.base_url}: telemetry accepted (HTTP {outcome.status})"))
    elif outcome.status in (401, 403):
        checks.append(Check("platform", FAIL, f"{http.base_url}: reachable, but the token was refused (HTTP {outcome.status})"))
    elif outcome.status:
        checks.append(Check("platform", FAIL, f"{http.base_url}: HTTP {outcome.status}"))
    else:
        checks.append(Check("platform", FAIL, f"{http.base_url}: unreachable ({outcome.detail})"))
    # the platform's Date header tells whether this box's clock is right
    try:
        resp = requests.head(http.base_url, timeout=(http.connect_timeout_s, http.read_timeout_s),
                             verify=http.ca_file or http.verify_tls)
        if resp.headers.get("Date"):
            skew = time.time() - parsedate_to_datetime(resp.headers["Date"]).timestamp()
            status = OK if abs(skew) <= CLOCK_SKEW_MAX_S else FAIL
            checks.append(Check("clock vs platform", status, f"{skew:+.0f} s against the platform's clock"))
    except requests.RequestException:
        pass
    transport.stop()
    return checks


def _check_mqtt(cfg, base_dir: Path | None) -> Check:
    from ..uplink.mqtt import MqttTransport

    t = MqttTransport.from_config(cfg, base_dir)
    t.start()
    try:
        ok = t.wait_connected(5.0)
    finally:
        t.stop()
    m = cfg.uplink.mqtt
    return Check("mqtt broker", OK if ok else FAIL, f"{m.host}:{m.port} " + ("connected" if ok else "no connection within 5 s"))


def check_disk(cfg) -> list[Check]:
    from ..uplink.sysinfo import disk_free_mb

    out = []
    for label, folder in (("state dir", cfg.storage.state_dir), ("cache dir", cfg.storage.cache_dir)):
        p = Path(folder)
        probe = p
        while not probe.exists() and probe != probe.parent:
            probe = probe.parent
        free_mb = disk_free_mb(probe) or 0
        writable = os.access(p if p.exists() else probe, os.W_OK)
        if not writable:
            out.append(Check(label, FAIL, f"{p} is not writable by this user"))
        elif free_mb < cfg.storage.min_free_mb:
            out.append(Check(label, FAIL, f"{p}: only {free_mb:.0f} MB free (min_free_mb {cfg.storage.min_free_mb:g})"))
        else:
            out.append(Check(label, OK, f"{p}: {free_mb:.0f} MB free"))
    return out


def check_clock() -> Check:
    now = dt.datetime.now(dt.timezone.utc)
    if now.year < 2024:
        return Check("clock", FAIL, f"system clock says {now:%Y-%m-%d}: not set (no RTC and no NTP?)")
    if shutil.which("timedatectl"):
        try:
            run = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                 capture_output=True, text=True, timeout=5)
            if run.returncode == 0 and run.stdout.strip():
                synced = run.stdout.strip() == "yes"
                return Check("clock", OK if synced else WARN,
                             f"{now:%Y-%m-%d %H:%M:%S} UTC, NTP {'synchronized' if synced else 'NOT synchronized'}")
        except subprocess.TimeoutExpired:
            pass
    return Check("clock", OK, f"{now:%Y-%m-%d %H:%M:%S} UTC (NTP state unknown here)")


def check_outbox(cfg) -> Check:
    from ..outbox import Outbox, default_path

    path = default_path(cfg)
    if not path.exists():
        return Check("outbox", OK, "empty (not created yet)")
    box = Outbox.from_config(cfg)
    try:
        counts = box.counts()
    finally:
        box.close()
    status = WARN if counts["dead_letters"] else OK
    return Check("outbox", status, f"{counts['pending']} pending, {counts['dead_letters']} dead letter(s)")


def run_checks(cfg, base_dir: Path | None, only: set[str] | None = None) -> list[Check]:
    plan: list[tuple[str, Callable[[], Check | list[Check]]]] = [
        ("clock", check_clock),
        ("disk", lambda: check_disk(cfg)),
        ("detector", lambda: check_model(cfg, base_dir)),
        ("camera", lambda: check_camera(cfg)),
        ("sensors", lambda: check_sensors(cfg)),
        ("audio", lambda: check_audio(cfg)),
        ("platform", lambda: check_platform(cfg, base_dir)),
        ("outbox", lambda: check_outbox(cfg)),
    ]
    results: list[Check] = []
    for name, fn in plan:
        if only is None or name in only:
            results.extend(_guard(name, fn))
    return results
