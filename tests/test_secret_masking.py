"""The password in a camera URL never leaves the config: not in `gedge run`'s log, not in the
errors of `camera snapshot` and `zones show`, not in doctor, not in what the box stores or sends.
Tested against a real RTSP server on loopback (a relay with no stream published: every open fails,
which is when the URL gets printed)."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from edge.config.edit import edited_text
from hw.camera import redact

from rtsp_support import RtspRelay

ROOT = Path(__file__).resolve().parent.parent
PASSWORD = "S3cr3t/p@ss"  # a raw / and @ in it, as cameras' passwords often have


@pytest.mark.parametrize("url,shown", [
    ("rtsp://admin:secret@192.0.2.10:554/Streaming/Channels/101", "rtsp://admin:***@192.0.2.10:554/Streaming/Channels/101"),
    (f"rtsp://admin:{PASSWORD}@cam.local/live", "rtsp://admin:***@cam.local/live"),
    ("http://192.0.2.10/cgi-bin/snapshot.cgi?user=admin&password=secret&chn=1",
     "http://192.0.2.10/cgi-bin/snapshot.cgi?user=admin&password=***&chn=1"),
    ("rtsp://192.0.2.10/live", "rtsp://192.0.2.10/live"),
    ("cannot open stream rtsp://u:pw@h/x (timeout)", "cannot open stream rtsp://u:***@h/x (timeout)"),
])
def test_redact(url, shown):
    assert redact(url) == shown


@pytest.fixture
def relay():
    r = RtspRelay()
    yield r
    r.close()


def _config(tmp: Path, url: str) -> Path:
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    for key, value in {"camera.source": url, "camera.stall_timeout_s": 2, "camera.reconnect_max_s": 1,
                       "sensors": [], "actuators": [], "voice.enabled": False, "uplink.http.enabled": False,
                       "storage.state_dir": str(tmp / "state"), "storage.cache_dir": str(tmp / "cache")}.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def _gedge(config: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "--config", str(config), *args],
                          capture_output=True, text=True, timeout=timeout, cwd=ROOT)


def _no_secret(run: subprocess.CompletedProcess) -> str:
    said = run.stdout + run.stderr
    assert "S3cr3t" not in said and "p@ss" not in said, said
    return said


def test_the_rtsp_password_is_masked_everywhere(tmp_path, relay):
    url = f"rtsp://admin:{PASSWORD}@{relay.host}:{relay.port}/live"
    config = _config(tmp_path, url)
    masked = f"rtsp://admin:***@{relay.host}:{relay.port}/live"

    snap = _gedge(config, "camera", "snapshot", str(tmp_path / "room.jpg"), "--timeout", "3")
    assert snap.returncode == 1 and masked in _no_secret(snap)

    zones = _gedge(config, "zones", "show", "--image", str(tmp_path / "zones.jpg"), "--timeout", "3")
    assert zones.returncode == 1 and masked in _no_secret(zones)

    doctor = _gedge(config, "doctor", "--only", "camera")
    assert doctor.returncode == 1 and masked in _no_secret(doctor)

    for view in (("config", "show"), ("config", "show", "--json"), ("config", "diff")):
        shown = _gedge(config, *view)
        assert shown.returncode == 0 and masked in _no_secret(shown), view

    run = _gedge(config, "-v", "run", "--duration", "5")
    said = _no_secret(run)
    assert run.returncode == 0, said
    assert f"camera {masked}" in said, "the start line names the camera, masked"
    # nor in what the box keeps (the outbox's camera_fault incident, anything else under state/)
    for path in (tmp_path / "state").rglob("*"):
        if path.is_file():
            assert b"S3cr3t" not in path.read_bytes(), path
