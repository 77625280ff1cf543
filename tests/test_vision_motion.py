"""Motion gate on synthetic frames: still scenes cost nothing but rechecks; changes wake the detector."""
from __future__ import annotations

import numpy as np

from edge.config.vision import Motion
from edge.vision.motion import MotionGate

RNG = np.random.default_rng(0)
BASE = np.full((480, 640, 3), 120, np.uint8)
# sensor noise (sigma 3 grey levels), a few precomputed fields used in turn: fast
NOISE = [RNG.normal(0, 3, BASE.shape).astype(np.int16) for _ in range(5)]
_n = [0]


def noisy(img: np.ndarray) -> np.ndarray:
    _n[0] += 1
    return np.clip(img.astype(np.int16) + NOISE[_n[0] % len(NOISE)], 0, 255).astype(np.uint8)


def with_box(x: int, y: int, w: int = 60, h: int = 60, value: int = 20) -> np.ndarray:
    img = BASE.copy()
    img[y:y + h, x:x + w] = value
    return img


def test_still_noisy_scene_runs_only_on_rechecks():
    gate = MotionGate.from_config(Motion(recheck_s=5.0))
    runs = [gate.check(noisy(BASE), i / 10).reason for i in range(300)]  # 30 s at 10 fps
    assert runs[0] == "first"
    assert runs.count("motion") == 0
    assert runs.count("recheck") == 5  # t = 5, 10, 15, 20, 25
    assert gate.runs == 6


def test_a_moving_object_wakes_the_detector_then_it_settles():
    gate = MotionGate.from_config(Motion(recheck_s=5.0))
    for i in range(20):
        gate.check(noisy(BASE), i / 10)
    reasons = []
    for k in range(20):  # a dark box crosses the floor
        reasons.append(gate.check(noisy(with_box(100 + 15 * k, 350)), 2.0 + k / 10).reason)
    # every frame changed; the detector ran on every third or fourth (max_detect_fps 3 at 10 fps)
    assert reasons.count("motion") + reasons.count("rate") >= 19
    assert 5 <= reasons.count("motion") <= 7
    still = [gate.check(noisy(with_box(385, 350)), 4.0 + k / 10).reason for k in range(80)]
    # after the object stops: one "settled" run, then a few motion frames while the background adapts,
    # then quiet
    assert "settled" in still
    assert still[-30:].count("motion") == 0


def test_small_change_below_area_threshold_is_ignored():
    gate = MotionGate.from_config(Motion(min_area_frac=0.01, recheck_s=100))
    gate.check(BASE, 0.0)
    assert not gate.check(with_box(300, 300, 8, 8), 0.1).run  # 64 px of 307200: far below 1 %


def test_slow_lighting_change_does_not_count_as_motion():
    gate = MotionGate.from_config(Motion(recheck_s=100))
    reasons = []
    for i in range(200):  # 20 s dimming from 120 to 100 grey levels
        level = 120 - i * 0.1
        reasons.append(gate.check(noisy(np.full_like(BASE, int(level))), i / 10).reason)
    assert reasons.count("motion") == 0


def test_rate_limit_can_be_lifted():
    gate = MotionGate.from_config(Motion(max_detect_fps=60))
    gate.check(BASE, 0.0)
    reasons = [gate.check(noisy(with_box(100 + 15 * k, 350)), (k + 1) / 10).reason for k in range(10)]
    assert reasons.count("motion") == 10


def test_disabled_gate_runs_every_frame():
    gate = MotionGate.from_config(Motion(enabled=False))
    assert all(gate.check(BASE, i / 10).run for i in range(10))
