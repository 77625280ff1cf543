"""The pipeline with the shipped detector model (models/garbage-yolo.onnx): memory of `gedge
replay`, and one simulated clip end to end. Skipped where the model has not been built."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "garbage-yolo.onnx"

pytestmark = pytest.mark.skipif(not MODEL.is_file(), reason=f"shipped model {MODEL.name} not built yet (models/train.py)")


# Runs the CLI and reports the process's own peak RSS (VmHWM) at exit. ru_maxrss from wait4 would
# not do: it keeps the pre-exec high-water mark of the forked child, i.e. the size of this test
# process (over 1 GB once another test has loaded torch).
_REPORT_PEAK = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    for line in open('/proc/self/status'):\n"
    "        if line.startswith('VmHWM:'):\n"
    "            sys.stderr.write('PEAK_RSS_KB ' + line.split()[1] + '\\n')\n"
    "atexit.register(_peak)\n"
    "from edge.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def peak_rss_mb(args: list[str]) -> tuple[int, float, str]:
    """Exit code, peak RSS (MB) of `gedge ARGS` itself, and its stderr."""
    run = subprocess.run([sys.executable, "-c", _REPORT_PEAK, *args], cwd=ROOT, stdout=subprocess.DEVNULL,
                         stderr=subprocess.PIPE, text=True)
    peaks = [int(line.split()[1]) for line in run.stderr.splitlines() if line.startswith("PEAK_RSS_KB ")]
    assert peaks, f"no peak reported: {run.stderr[-500:]}"
    return run.returncode, peaks[-1] / 1024.0, run.stderr


def test_replay_with_the_onnx_model_stays_under_300_mb(tmp_path):
    clip = tmp_path / "room.mp4"
    w = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"mp4v"), 10, (640, 480))
    rng = np.random.default_rng(0)
    for i in range(100):
        img = np.full((480, 640, 3), 150, np.uint8)
        x = 100 + 4 * i  # something crossing the room keeps the detector busy
        img[300:400, x:x + 60] = 40
        w.write(cv2.add(img, rng.integers(0, 4, img.shape, dtype=np.uint8)))
    w.release()
    code, rss, err = peak_rss_mb(["replay", str(clip), "--stats"])
    assert code == 0, err
    assert "detector runs" in err
    assert rss <= 300, f"peak RSS {rss:.0f} MB"
    assert "torch" not in err


@pytest.mark.slow
def test_shipped_model_opens_and_resolves_a_dropped_bag():
    from edge.config import load_file
    from edge.vision.bag_rules import INCIDENT_OPEN, INCIDENT_RESOLVED
    from edge.vision.pipeline import VisionPipeline, make_detector
    from hw.sim import SimRoom
    from hw.sim.scenario import build_scenario

    sc = build_scenario({
        "name": "model_smoke", "duration_s": 36,
        "rules": {"remind_after_s": 2, "incident_after_s": 10, "clear_after_s": 5},
        "timeline": [
            {"t": 1, "action": "enter", "actor": "p", "from": "right", "to": [500, 400], "carrying": "black_bag", "bag": "b"},
            {"t": 4, "action": "drop", "actor": "p", "at": [525, 420]},
            {"t": 5, "action": "leave", "actor": "p", "to": "right"},
            {"t": 22, "action": "enter", "actor": "c", "from": "right", "to": [495, 405]},
            {"t": 25, "action": "pick_up", "actor": "c", "bag": "b"},
            {"t": 26, "action": "leave", "actor": "c", "to": "right"},
        ]})
    (exp,) = sc.expected_incidents()
    cfg = load_file(ROOT / "config" / "default.yaml")
    r = cfg.rules.bag_outside_bin
    r.remind_after_s, r.incident_after_s, r.clear_after_s = 2.0, 10.0, 5.0
    pipe = VisionPipeline(cfg, make_detector(cfg, ROOT / "config"))
    room = SimRoom(sc, size=(640, 480), seed=9901)  # a seed never used for training data
    events = []
    fps = 5
    for i in range(int(sc.duration_s * fps)):
        t = i / fps
        frame, _truth = room.render(t)
        events.extend(pipe.process(frame, t))
    opens = [e for e in events if e.kind == INCIDENT_OPEN]
    resolved = [e for e in events if e.kind == INCIDENT_RESOLVED]
    assert len(opens) == 1, [(e.kind, e.t) for e in events]
    assert abs(opens[0].t - exp["open_s"]) <= 3
    assert len(resolved) == 1 and abs(resolved[0].t - exp["resolve_s"]) <= 3
