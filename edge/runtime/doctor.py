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

from ..i18n import _

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
    if cfg.camera.source.strip().startswith("sim:"):
        return Check("camera", WARN, _("{source}: the simulated camera, not a real one "
                                       "(gedge run refuses it unless started with --simulation)").format(source=cfg.camera.source))
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
        return Check("camera", FAIL, _("{source}: no frame within {seconds:g} s ({reason})").format(
            source=where, seconds=timeout_s, reason=health.reason or health.status))
    frame, _ts = got
    return Check("camera", OK, _("{source}: a {width}x{height} frame arrived").format(
        source=where, width=frame.shape[1], height=frame.shape[0]))


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
    return Check("detector", OK, _("{backend} {model} at {imgsz}: first inference {ms:.0f} ms").format(
        backend=cfg.vision.backend, model=path.name, imgsz=cfg.vision.imgsz, ms=ms))


def check_sensors(cfg, wait_s: float | None = None) -> list[Check]:
    """Each sensor must give a valid reading within its timeout (at most wait_s)."""
    from ..sensing.manager import SensorManager

    if not cfg.sensors:
        return [Check("sensors", WARN, _("no sensors configured"))]
    marked = _unusable_sensors(cfg)
    if marked:  # a simulated sensor or a missing port needs no wait: say so at once, check the rest
        rest = [s for s in cfg.sensors if s.id not in marked]
        return list(marked.values()) + (check_sensors(cfg.model_copy(update={"sensors": rest}), wait_s) if rest else [])
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
            status = (snap.get(s.id) or {}).get("status") or _("no valid reading")
            out.append(Check(f"sensor {s.id}", FAIL, _("{driver} on {where}: nothing valid within {seconds:g} s ({status})").format(
                driver=s.driver, where=where, seconds=limit, status=status)))
        else:
            out.append(Check(f"sensor {s.id}", OK, _("{driver} on {where}: {quantity} = {value}").format(
                driver=s.driver, where=where, quantity=r.quantity, value=f"{r.value:g} {r.unit}".rstrip())))
    return out


def _unusable_sensors(cfg) -> dict[str, Check]:
    out = {}
    for s in cfg.sensors:
        if s.driver == "sim":
            out[s.id] = Check(f"sensor {s.id}", WARN, _("the simulated sensor, not a real one "
                                                       "(gedge run refuses it unless started with --simulation)"))
        elif s.port and not Path(s.port).exists():
            out[s.id] = Check(f"sensor {s.id}", FAIL, _("{driver}: serial port {port} not found "
                                                       "(unplugged? see `ls /dev/serial/by-id/`)").format(driver=s.driver, port=s.port))
    return out


def check_audio(cfg) -> list[Check]:
    from hw.audio.player import AplayPlayer
    from hw.audio.wav import WavInfo, write_wav

    out = []
    if not cfg.voice.enabled:
        return [Check("audio", OK, _("voice disabled in the config"))]
    espeak = shutil.which("espeak-ng")
    out.append(Check("speech", OK if espeak else FAIL,
                     _("espeak-ng found") if espeak else _("espeak-ng is not installed (apt-get install espeak-ng)")))
    if cfg.voice.player.strip() == "sim":
        out.append(Check("speaker", WARN, _("voice.player is sim: prompts are only logged")))
        return out
    # the agent's own player, on 0.2 s of silence
    player = AplayPlayer(cfg.voice.player, cfg.voice.alsa_device)
    if not shutil.which(player.argv[0]):
        out.append(Check("speaker", FAIL, _("player {player!r} not found (apt-get install alsa-utils)").format(player=player.argv[0])))
        return out
    rate = 16000
    with tempfile.TemporaryDirectory() as tmp:
        wav = Path(tmp) / "silence.wav"
        write_wav(wav, np.zeros(rate // 5, np.float32), WavInfo(1, rate, rate // 5, 2))
        result = player.play(wav, 10.0)
    device = cfg.voice.alsa_device or _("default device")
    if result.ok:
        out.append(Check("speaker", OK, _("{player} played on {device}").format(player=player.argv[0], device=device)))
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
        out.append(Check("platform", FAIL, _("no uplink enabled: incidents would never leave the box")))
    return out


def _check_http(cfg, base_dir: Path | None) -> list[Check]:
    import requests

    from ..uplink.http import HttpTransport
    from ..uplink.secrets import SecretError, read_secret
    from ..uplink.telemetry import build_telemetry

    http = cfg.uplink.http
    try:
        token = read_secret(http.token_file, http.token_credential, base_dir, what="platform token")
        checks = [Check("platform token", OK if token else WARN, _("readable") if token else _("none configured"))]
    except SecretError as e:  # still say whether the platform can be reached at all
        token = None
        checks = [Check("platform token", FAIL, str(e))]
    transport = HttpTransport.from_config(cfg, base_dir, allow_missing_token=True)
    doc = build_telemetry(cfg.device.id, cfg.device.timezone, time.time(), {}, {"doctor": True})
    import json

    outcome = transport.send("telemetry", None, json.dumps(doc).encode())
    if outcome.kind == "ok":
        checks.append(Check("platform", OK, _("{url}: telemetry accepted (HTTP {status})").format(url=http.base_url, status=outcome.status)))
    elif outcome.status in (401, 403) and not token:
        checks.append(Check("platform", FAIL, _("{url}: reachable; refused without a token (HTTP {status})")
                            .format(url=http.base_url, status=outcome.status)))
    elif outcome.status in (401, 403):
        checks.append(Check("platform", FAIL, _("{url}: reachable, but the token was refused (HTTP {status})").format(
            url=http.base_url, status=outcome.status)))
    elif outcome.status:
        checks.append(Check("platform", FAIL, f"{http.base_url}: HTTP {outcome.status}"))
    else:
        checks.append(Check("platform", FAIL, _("{url}: unreachable ({reason})").format(url=http.base_url, reason=outcome.detail)))
    # the platform's Date header tells whether this box's clock is right
    try:
        resp = requests.head(http.base_url, timeout=(http.connect_timeout_s, http.read_timeout_s),
                             verify=transport.verify)  # the uplink's own TLS setting, CA beside the config
        if resp.headers.get("Date"):
            skew = time.time() - parsedate_to_datetime(resp.headers["Date"]).timestamp()
            status = OK if abs(skew) <= CLOCK_SKEW_MAX_S else FAIL
            checks.append(Check("clock vs platform", status, _("{skew:+.0f} s against the platform's clock").format(skew=skew)))
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
    return Check("mqtt broker", OK if ok else FAIL, f"{m.host}:{m.port} " + (_("connected") if ok else _("no connection within 5 s")))


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
            out.append(Check(label, FAIL, _("{path} is not writable by this user").format(path=p)))
        elif not p.is_dir():  # systemd creates StateDirectory=/CacheDirectory= when the service starts
            out.append(Check(label, WARN, _("{path} does not exist yet (the service creates it when it starts; "
                                            "{free:.0f} MB free on {probe})").format(path=p, free=free_mb, probe=probe)))
        elif free_mb < cfg.storage.min_free_mb:
            out.append(Check(label, FAIL, _("{path}: only {free:.0f} MB free (min_free_mb {min:g})").format(
                path=p, free=free_mb, min=cfg.storage.min_free_mb)))
        else:
            out.append(Check(label, OK, _("{path}: {free:.0f} MB free").format(path=p, free=free_mb)))
    return out


CLOCK_SET_AFTER_YEAR = 2024  # a board without an RTC and no NTP yet starts in 1970 (or its build date)


def check_clock(now: dt.datetime | None = None) -> Check:
    now = now or dt.datetime.now(dt.timezone.utc)
    if now.year < CLOCK_SET_AFTER_YEAR:
        return Check("clock", FAIL, _("system clock says {date}: not set (no RTC and no NTP?)").format(date=f"{now:%Y-%m-%d}"))
    if shutil.which("timedatectl"):
        try:
            run = subprocess.run(["timedatectl", "show", "-p", "NTPSynchronized", "--value"],
                                 capture_output=True, text=True, timeout=5)
            if run.returncode == 0 and run.stdout.strip():
                synced = run.stdout.strip() == "yes"
                return Check("clock", OK if synced else WARN,
                             (_("{time} UTC, NTP synchronized") if synced else _("{time} UTC, NTP NOT synchronized"))
                             .format(time=f"{now:%Y-%m-%d %H:%M:%S}"))
        except subprocess.TimeoutExpired:
            pass
    return Check("clock", OK, _("{time} UTC (NTP state unknown here)").format(time=f"{now:%Y-%m-%d %H:%M:%S}"))


def check_outbox(cfg) -> Check:
    from ..outbox import Outbox, default_path

    path = default_path(cfg)
    if not path.exists():
        return Check("outbox", OK, _("empty (not created yet)"))
    problem = Outbox.inspect(path)  # looked at, never changed: the agent moves a damaged file aside
    if problem:
        return Check("outbox", FAIL, _("{path}: damaged ({problem}); the agent moves it aside and starts a fresh one").format(
            path=path, problem=problem))
    box = Outbox.from_config(cfg)
    try:
        counts = box.counts()
    finally:
        box.close()
    status = WARN if counts["dead_letters"] else OK
    return Check("outbox", status, _("{pending} pending, {dead} dead letter(s)").format(
        pending=counts["pending"], dead=counts["dead_letters"]))


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
