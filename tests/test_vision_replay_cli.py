"""`gedge replay` over recorded clips: events with clip times, and clear errors (never a traceback)
for truncated, corrupt and missing files or a missing model."""
from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FPS = 10


def gedge(*args, timeout=120):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=ROOT,
                          timeout=timeout)


@pytest.fixture(scope="module")
def clip(tmp_path_factory):
    """45 s at 10 fps: a dark bag lies on the floor from t=2 to t=30. Writes clip.mp4 + truth."""
    d = tmp_path_factory.mktemp("clip")
    path = d / "clip.mp4"
    w = cv2.VideoWriter(str(path), cv2.VideoWriter_fourcc(*"mp4v"), FPS, (640, 480))
    rng = np.random.default_rng(0)
    base = np.full((480, 640, 3), 150, np.uint8)
    frames = []
    for i in range(45 * FPS):
        t = i / FPS
        img = base.copy()
        boxes = []
        if 2.0 <= t < 30.0:
            img[350:410, 500:560] = 30
            boxes.append({"cls": "garbage_bag", "xyxy": [500, 350, 560, 410]})
        img = cv2.add(img, rng.integers(0, 4, img.shape, dtype=np.uint8))
        w.write(img)
        frames.append({"t": t, "boxes": boxes})
    w.release()
    (d / "clip.truth.json").write_text(json.dumps({"fps": FPS, "frames": frames}))
    return path


@pytest.fixture
def short_rules(config_file):
    text = config_file.read_text().replace("incident_after_s: 60", "incident_after_s: 20")
    config_file.write_text(text)
    return config_file


def test_replay_prints_events_with_clip_times(clip, short_rules):
    run = gedge("replay", str(clip), "--config", str(short_rules), "--json", "--truth",
                str(clip.with_suffix(".truth.json")), "--stats")
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stdout.splitlines()]
    assert [e["event"] for e in events] == ["reminder_due", "incident_open", "incident_resolved"]
    opened, resolved = events[1], events[2]
    assert 22.0 <= opened["t"] <= 25.0 and opened["zone"] == "floor" and opened["count"] == 1
    assert 39.5 <= resolved["t"] <= 43.0
    assert "detector runs" in run.stderr
    # the bag has a truth box and is new in the picture: both eyes saw it, and --stats shows the finder's object
    assert opened["seen_by"] == "both" and resolved["seen_by"] == "both"
    assert "static-object finder (enabled)" in run.stderr and "object #1: still since" in run.stderr


def test_replay_text_output(clip, short_rules):
    run = gedge("replay", str(clip), "--config", str(short_rules), "--truth", str(clip.with_suffix(".truth.json")))
    assert run.returncode == 0, run.stderr
    assert "incident_open" in run.stdout and "zone=floor" in run.stdout


def test_truncated_clip_is_a_clear_error(clip, short_rules, tmp_path):
    cut = tmp_path / "cut.mp4"
    data = clip.read_bytes()
    cut.write_bytes(data[: len(data) // 2])
    run = gedge("replay", str(cut), "--config", str(short_rules), "--truth", str(clip.with_suffix(".truth.json")))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr
    assert "cut.mp4" in run.stderr and ("truncated" in run.stderr or "corrupt" in run.stderr)


def test_corrupt_middle_is_reported_or_survived(clip, short_rules, tmp_path):
    bad = tmp_path / "bad.mp4"
    data = bytearray(clip.read_bytes())
    rng = np.random.default_rng(1)
    lo, hi = len(data) // 3, 2 * len(data) // 3
    data[lo:hi] = rng.integers(0, 256, hi - lo, dtype=np.uint8).tobytes()
    bad.write_bytes(bytes(data))
    run = gedge("replay", str(bad), "--config", str(short_rules), "--truth", str(clip.with_suffix(".truth.json")))
    assert run.returncode in (0, 1)
    assert "Traceback" not in run.stderr


def test_not_a_video_is_a_clear_error(tmp_path, short_rules):
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(np.random.default_rng(2).integers(0, 256, 50_000, dtype=np.uint8).tobytes())
    run = gedge("replay", str(junk), "--config", str(short_rules))
    assert run.returncode == 1
    assert "Traceback" not in run.stderr and "junk.mp4" in run.stderr


def test_empty_and_missing_files(tmp_path, short_rules):
    empty = tmp_path / "empty.mp4"
    empty.write_bytes(b"")
    run = gedge("replay", str(empty), "--config", str(short_rules))
    assert run.returncode == 1 and "empty" in run.stderr and "Traceback" not in run.stderr
    run = gedge("replay", str(tmp_path / "nope.mp4"), "--config", str(short_rules))
    assert run.returncode == 2 and "no such file" in run.stderr


def test_missing_model_is_a_clear_error(clip, short_rules):
    text, n = re.subn(r"(?m)^(\s*model:\s*)\S+", r"\g<1>/nonexistent/model.onnx", short_rules.read_text(), count=1)
    assert n == 1
    short_rules.write_text(text)
    run = gedge("replay", str(clip), "--config", str(short_rules))
    assert run.returncode == 2, run.stderr
    assert "Traceback" not in run.stderr and "detector" in run.stderr


def test_snapshots_are_written_as_jpegs_and_a_bad_dir_is_a_clear_error(clip, short_rules, tmp_path):
    snaps = tmp_path / "snaps"
    run = gedge("replay", str(clip), "--config", str(short_rules), "--truth", str(clip.with_suffix(".truth.json")),
                "--snapshots", str(snaps))
    assert run.returncode == 0, run.stderr
    files = sorted(p.name for p in snaps.iterdir())
    events = [n for n in files if "-object-" not in n]
    assert [n.split("-", 1)[1] for n in events] == ["incident_open-floor-1.jpg", "incident_resolved-floor-1.jpg"]
    assert cv2.imread(str(snaps / events[0])).shape == (480, 640, 3)
    # the static-object finder's object, outlined, when it was first found (bag down at 2 s)
    (obj,) = [n for n in files if "-object-" in n]
    assert obj.endswith("-object-1.jpg") and 4.0 <= float(obj.split("-")[0]) <= 10.0
    assert cv2.imread(str(snaps / obj)).shape == (480, 640, 3)
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    run = gedge("replay", str(clip), "--config", str(short_rules), "--snapshots", str(blocker / "snaps"))
    assert run.returncode == 2 and "Traceback" not in run.stderr and "cannot create" in run.stderr
