"""`gedge camera snapshot|status` and `gedge zones show` against the simulated room, a picture,
and an unplugged camera."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent


def gedge(*args, timeout=60):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


def test_snapshot_from_the_simulated_room(tmp_path, config_file):
    out = tmp_path / "snap.jpg"
    run = gedge("camera", "snapshot", str(out), "--zones", "--config", str(config_file))
    assert run.returncode == 0, run.stderr
    img = cv2.imread(str(out))
    assert img.shape == (480, 640, 3)


def test_zones_show_lists_and_draws_on_a_picture(tmp_path, config_file):
    pic = tmp_path / "site.jpg"
    cv2.imwrite(str(pic), np.zeros((240, 320, 3), np.uint8))  # another size: scaled to the camera's
    out = tmp_path / "zones.jpg"
    run = gedge("zones", "show", "--image", str(out), "--on", str(pic), "--config", str(config_file))
    assert run.returncode == 0, run.stderr
    assert "floor:" in run.stdout and "bin bin-1:" in run.stdout
    img = cv2.imread(str(out))
    assert img.shape == (480, 640, 3) and img[258:263, 300:340, 1].max() > 120  # the floor line at y=260
    run = gedge("zones", "show", "--json", "--config", str(config_file))
    zones = json.loads(run.stdout)
    assert zones["floor"][0] == [0, 260] and zones["bins"][0]["id"] == "bin-1"


def test_zones_show_draws_on_a_current_camera_frame(tmp_path, config_file):
    out = tmp_path / "zones.jpg"
    run = gedge("zones", "show", "--image", str(out), "--config", str(config_file))  # the simulated room
    assert run.returncode == 0, run.stderr
    img = cv2.imread(str(out))
    assert img.shape == (480, 640, 3) and img[:, :, 2].max() > 60  # a real frame, not a blank canvas
    floor = img[258:263, 300:340].astype(int)
    assert (floor[:, :, 1] - floor[:, :, 0]).max() > 100  # the green floor line at y=260
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = gedge("zones", "show", "--image", str(blocker / "z.jpg"), "--config", str(config_file))
    assert run.returncode == 1 and "cannot write" in run.stderr and "Traceback" not in run.stderr


def test_unplugged_camera_gives_a_clear_error(tmp_path, config_file):
    text = config_file.read_text().replace('source: "sim:bag_dropped_outside"', 'source: "/dev/video9"')
    text = text.replace("reconnect_initial_s: 1", "reconnect_initial_s: 0.2")
    config_file.write_text(text)
    run = gedge("camera", "snapshot", str(tmp_path / "x.jpg"), "--config", str(config_file))
    assert run.returncode == 1
    assert "/dev/video9" in run.stderr and "unplugged" in run.stderr and "Traceback" not in run.stderr
    run = gedge("camera", "status", "--json", "--seconds", "0.5", "--config", str(config_file))
    assert run.returncode == 1
    assert json.loads(run.stdout)["status"] == "fault"
