"""Motion gate: run the detector only when the picture changed, plus a slow periodic recheck.

Each frame is shrunk to `downscale_width`, turned grey, blurred and light-normalized (its mean
grey level scaled to a fixed value, edge.vision.picture: a light change or an exposure step is
not motion), and compared with a slowly updated background (a running average with time constant `background_tau_s`). When at least
`min_area_frac` of the pixels differ by more than `pixel_threshold`, the detector runs. On a still
scene it still runs every `recheck_s` (so a bag that lies still is seen again), and once more on
the first still frame after motion (the scene as it was left). While things move it runs at most
`max_detect_fps` times a second (tracking needs no more). An idle room costs one small
resize and difference per frame. No threads; the frame time comes with each call.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

from .picture import small_picture


@dataclass
class GateDecision:
    run: bool
    reason: str  # run: motion | recheck | settled | verify | first | disabled; skip: idle | rate
    changed_frac: float


class MotionGate:
    def __init__(self, enabled: bool = True, pixel_threshold: int = 25, min_area_frac: float = 0.002,
                 recheck_s: float = 5.0, downscale_width: int = 160, background_tau_s: float = 2.0,
                 max_detect_fps: float = 3.0):
        self.enabled = enabled
        self.pixel_threshold = pixel_threshold
        self.min_area_frac = min_area_frac
        self.recheck_s = recheck_s
        self.downscale_width = downscale_width
        self.background_tau_s = background_tau_s
        self.min_interval_s = 1.0 / max_detect_fps if max_detect_fps > 0 else 0.0
        self._bg: np.ndarray | None = None
        self._last_t: float | None = None
        self._last_run: float | None = None
        self._moving = False
        self._due: float | None = None  # a run asked for by the caller (verify a missed object)
        self.runs = 0
        self.frames = 0

    @classmethod
    def from_config(cls, motion) -> "MotionGate":
        """From `vision.motion` (edge.config.vision.Motion)."""
        return cls(motion.enabled, motion.pixel_threshold, motion.min_area_frac, motion.recheck_s,
                   motion.downscale_width, motion.background_tau_s, motion.max_detect_fps)

    def small(self, frame: np.ndarray) -> np.ndarray:
        """The gate's picture of a frame: the shared small light-normalized one (edge.vision.picture)."""
        return small_picture(frame, self.downscale_width)

    def request(self, t_due: float) -> None:
        """Ask for a detector run at t_due or soon after (e.g. to confirm that a tracked bag the
        last run missed is really gone, rather than waiting for the slow recheck)."""
        self._due = t_due if self._due is None else min(self._due, t_due)

    def check(self, frame: np.ndarray, t: float, small: np.ndarray | None = None) -> GateDecision:
        """Decide whether the detector runs on this frame (and update the background). `small`:
        the frame's `small(frame)` when the caller already made it (it is shared with the finder)."""
        self.frames += 1
        if not self.enabled:
            return self._run(t, "disabled", 1.0)
        grey = self.small(frame) if small is None else small
        if self._bg is None or self._bg.shape != grey.shape:
            self._bg = grey.astype(np.float32)
            self._last_t = t
            return self._run(t, "first", 1.0)
        diff = cv2.absdiff(grey, cv2.convertScaleAbs(self._bg))
        changed = float(np.count_nonzero(diff > self.pixel_threshold)) / diff.size
        dt = max(0.0, t - (self._last_t if self._last_t is not None else t))
        self._last_t = t
        # the background follows the scene with a time constant, whatever the frame rate
        alpha = 1.0 - float(np.exp(-dt / self.background_tau_s)) if self.background_tau_s > 0 else 1.0
        if alpha > 0:
            cv2.accumulateWeighted(grey.astype(np.float32), self._bg, alpha)
        if changed >= self.min_area_frac:
            self._moving = True
            if self._last_run is not None and t - self._last_run < self.min_interval_s - 1e-9:
                return GateDecision(False, "rate", changed)  # while things move, max_detect_fps is enough
            return self._run(t, "motion", changed)
        if self._moving:
            self._moving = False
            return self._run(t, "settled", changed)
        if self._due is not None and t >= self._due:
            return self._run(t, "verify", changed)
        if self._last_run is None or t - self._last_run >= self.recheck_s:
            return self._run(t, "recheck", changed)
        return GateDecision(False, "idle", changed)

    def _run(self, t: float, reason: str, changed: float) -> GateDecision:
        self._last_run = t
        self._due = None
        self.runs += 1
        return GateDecision(True, reason, changed)
