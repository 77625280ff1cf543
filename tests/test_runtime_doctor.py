"""`gedge doctor` on the simulated room against a real receiver: all checks pass, the simulated
camera and sensors marked as such; a refused token, a missing model and a dead platform each fail
with a reason and exit 1; an unreadable token still says whether the platform is reachable; a
missing serial port fails at once; a missing state dir is not called OK."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.cli import main
from edge.config.edit import edited_text
from edge.receiver import ReceiverServer, ReceiverStore

ROOT = Path(__file__).resolve().parent.parent

# only the test of the audio check itself needs a speaker and a voice; the others turn voice off
needs_audio = pytest.mark.skipif(shutil.which("aplay") is None or shutil.which("espeak-ng") is None,
                                 reason="aplay and espeak-ng are needed for the audio check")


@pytest.fixture
def receiver(tmp_path):
    store = ReceiverStore(tmp_path / "receiver.db")
    server = ReceiverServer("127.0.0.1", 0, store, token="right")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    store.close()


def _config(tmp: Path, port: int, token: str = "right", audio: bool = False, **extra) -> Path:
    (tmp / "token").write_text(token + "\n")
    (tmp / "state").mkdir(exist_ok=True)
    (tmp / "cache").mkdir(exist_ok=True)
    text = (ROOT / "config" / "default.yaml").read_text()
    for key, value in {
        "voice.enabled": audio,
        "voice.alsa_device": "null",  # ALSA's null device exists without a sound card
        "uplink.http.base_url": f"http://127.0.0.1:{port}/api",
        "uplink.http.token_file": "token",
        "uplink.http.token_credential": None,
        "storage.state_dir": str(tmp / "state"),
        "storage.cache_dir": str(tmp / "cache"),
        **extra,
    }.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text)
    return path


def _doctor(capsys, config: Path) -> tuple[int, dict[str, dict]]:
    code = main(["--config", str(config), "doctor", "--json"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    return code, {r["name"]: r for r in rows}


@needs_audio
def test_everything_passes_on_the_simulated_room(tmp_path, receiver, capsys):
    code, checks = _doctor(capsys, _config(tmp_path, receiver, audio=True))
    assert code == 0, checks
    for name in ("detector", "speaker", "platform", "state dir"):
        assert checks[name]["status"] == "ok", checks[name]
    # the simulated twins work, but they are never called OK: a box must not run on them
    for name in ("camera", "sensor bin-1-level", "sensor odor-1"):
        assert checks[name]["status"] == "warn" and "simulated" in checks[name]["detail"], checks[name]


def test_a_real_camera_that_delivers_is_ok(tmp_path, receiver, capsys):
    clip = tmp_path / "room.avi"
    writer = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (640, 480))
    for i in range(20):
        writer.write(np.full((480, 640, 3), 40 + i, np.uint8))
    writer.release()
    config = _config(tmp_path, receiver, **{"camera.source": str(clip)})
    code = main(["--config", str(config), "doctor", "--json", "--only", "camera"])
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 0 and checks["camera"]["status"] == "ok" and "frame arrived" in checks["camera"]["detail"]


def test_a_refused_token_fails(tmp_path, receiver, capsys):
    code, checks = _doctor(capsys, _config(tmp_path, receiver, token="wrong"))
    assert code == 1
    assert checks["platform"]["status"] == "fail" and "refused" in checks["platform"]["detail"]


def test_missing_model_and_unreachable_platform_fail(tmp_path, capsys):
    config = _config(tmp_path, 9, **{"vision.model": str(tmp_path / "none.onnx")})  # nothing listens on port 9
    code, checks = _doctor(capsys, config)
    assert code == 1
    assert checks["detector"]["status"] == "fail" and "not found" in checks["detector"]["detail"]
    assert checks["platform"]["status"] == "fail" and "unreachable" in checks["platform"]["detail"]


def test_an_unreadable_token_still_checks_the_platform(tmp_path, receiver, capsys, monkeypatch):
    from edge.runtime import doctor

    empty = tmp_path / "credentials"
    empty.mkdir()  # the credential the config names is nowhere
    monkeypatch.setattr(doctor, "SYSTEM_CREDENTIALS_DIR", empty)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", str(empty))
    config = _config(tmp_path, receiver, **{"uplink.http.token_file": None,
                                           "uplink.http.token_credential": "platform-token"})
    code = main(["--config", str(config), "doctor", "--json", "--only", "platform"])
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 1
    assert checks["platform token"]["status"] == "fail"
    assert checks["platform"]["status"] == "fail" and "reachable" in checks["platform"]["detail"], checks


def test_a_missing_state_dir_is_not_ok(tmp_path, receiver, capsys):
    config = _config(tmp_path, receiver, **{"storage.state_dir": str(tmp_path / "not-yet")})
    main(["--config", str(config), "doctor", "--json", "--only", "disk"])
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert checks["state dir"]["status"] == "warn" and "does not exist" in checks["state dir"]["detail"]
    assert checks["cache dir"]["status"] == "ok"


def test_a_missing_serial_port_fails_without_waiting_for_it(tmp_path, monkeypatch):
    from edge.config import load_file
    from edge.runtime import doctor
    from edge.sensing import manager

    config = _config(tmp_path, 9, **{"sensors[0].driver": "a02yy", "sensors[0].port": str(tmp_path / "ttyNONE"),
                                     "sensors[1].driver": "ze03", "sensors[1].port": str(tmp_path / "ttyGONE")})
    started = []
    monkeypatch.setattr(manager.SensorManager, "start", lambda self: started.append(self))
    checks = doctor.check_sensors(load_file(config))
    assert started == [], "no sensor thread is started (and waited for) when every port is missing"
    assert [(c.name, c.status) for c in checks] == [("sensor bin-1-level", "fail"), ("sensor odor-1", "fail")]
    assert all("not found" in c.detail for c in checks)


def test_the_token_credential_is_found_where_the_unit_loads_it(tmp_path, receiver, capsys, monkeypatch):
    """`sudo gedge doctor` runs outside the unit: the credential is read where LoadCredential= takes it from."""
    from edge.runtime import doctor

    creds = tmp_path / "credentials"
    creds.mkdir()
    (creds / "platform-token").write_text("right\n")
    monkeypatch.setattr(doctor, "SYSTEM_CREDENTIALS_DIR", creds)
    monkeypatch.setenv("CREDENTIALS_DIRECTORY", "")  # restored (unset) after the test
    monkeypatch.delenv("CREDENTIALS_DIRECTORY")
    config = _config(tmp_path, receiver, **{"uplink.http.token_file": None,
                                           "uplink.http.token_credential": "platform-token"})
    code = main(["--config", str(config), "doctor", "--json", "--only", "platform"])
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 0, checks
    assert checks["platform token"]["status"] == "ok" and checks["platform"]["status"] == "ok"


@pytest.mark.skipif(shutil.which("socat") is None, reason="socat makes the pty the odor sensor talks on")
def test_no_frame_and_no_sensor_reading_fail(tmp_path, capsys):
    from hw.sensors.emulator import EmulatedSensors

    dev = tmp_path / "dev"
    dev.mkdir()
    config = _config(tmp_path, 9, **{
        "camera.source": str(tmp_path / "no-such-clip.mp4"),
        "camera.stall_timeout_s": 1,
        "sensors[0].driver": "a02yy",
        "sensors[0].port": str(tmp_path / "no-such-tty"),
        "sensors[0].timeout_s": 1,
        "sensors[1].driver": "ze03",
        "sensors[1].port": str(dev / "odor-1"),
        "sensors[1].timeout_s": 5,
    })
    emulated = EmulatedSensors(dev, [("odor-1", "ze03")], lambda _id, _t: 2.0)
    try:
        code = main(["--config", str(config), "doctor", "--json", "--only", "camera", "--only", "sensors"])
    finally:
        emulated.close()
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 1
    assert checks["camera"]["status"] == "fail", checks["camera"]
    assert checks["sensor bin-1-level"]["status"] == "fail" and "no-such-tty" in checks["sensor bin-1-level"]["detail"]
    assert checks["sensor odor-1"]["status"] == "ok", "a working sensor still passes beside a broken one"
