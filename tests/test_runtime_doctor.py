"""`gedge doctor` on the simulated room against a real receiver: all checks pass; a refused token,
a missing model and a dead platform each fail with a reason and exit 1."""
from __future__ import annotations

import json
import shutil
import threading
from pathlib import Path

import pytest

from edge.cli import main
from edge.config.edit import edited_text
from edge.receiver import ReceiverServer, ReceiverStore

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.skipif(shutil.which("aplay") is None or shutil.which("espeak-ng") is None,
                                reason="aplay and espeak-ng are needed for the audio check")


@pytest.fixture
def receiver(tmp_path):
    store = ReceiverStore(tmp_path / "receiver.db")
    server = ReceiverServer("127.0.0.1", 0, store, token="right")
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield server.server_address[1]
    server.shutdown()
    store.close()


def _config(tmp: Path, port: int, token: str = "right", **extra) -> Path:
    (tmp / "token").write_text(token + "\n")
    text = (ROOT / "config" / "default.yaml").read_text()
    for key, value in {
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


def test_everything_passes_on_the_simulated_room(tmp_path, receiver, capsys):
    code, checks = _doctor(capsys, _config(tmp_path, receiver))
    assert code == 0, checks
    for name in ("camera", "detector", "sensor bin-1-level", "sensor odor-1", "speaker", "platform", "state dir"):
        assert checks[name]["status"] == "ok", checks[name]
    assert "frame arrived" in checks["camera"]["detail"]


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


def test_no_frame_and_no_sensor_reading_fail(tmp_path, capsys):
    config = _config(tmp_path, 9, **{
        "camera.source": str(tmp_path / "no-such-clip.mp4"),
        "camera.stall_timeout_s": 1,
        "sensors[0].driver": "a02yy",
        "sensors[0].port": str(tmp_path / "no-such-tty"),
        "sensors[0].timeout_s": 1,
        "sensors[1].timeout_s": 1,
    })
    code = main(["--config", str(config), "doctor", "--json", "--only", "camera", "--only", "sensors"])
    checks = {r["name"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert code == 1
    assert checks["camera"]["status"] == "fail", checks["camera"]
    assert checks["sensor bin-1-level"]["status"] == "fail" and "no-such-tty" in checks["sensor bin-1-level"]["detail"]
    assert checks["sensor odor-1"]["status"] == "ok", "a working sensor still passes beside a broken one"
