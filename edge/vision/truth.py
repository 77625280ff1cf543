"""A stand-in detector that replays ground-truth boxes (from the simulated room or a clip's
`.truth.json`) as detections: for testing the tracker and rules without a trained model, and for
separating rule errors from detector errors in the event-accuracy evaluation."""
from __future__ import annotations

import json
import random
from bisect import bisect_right
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence


@dataclass
class TruthDetection:
    cls: str
    conf: float
    xyxy: tuple[float, float, float, float]


class TruthDetector:
    """`feed(boxes)` before each frame, then `detect(frame)` returns those of `classes` (bags,
    persons and bins, like the model: the static-object finder uses the bins).

    miss_rate drops each box with that probability and jitter_px moves its edges at random, to
    imitate a real detector's flicker (seeded: deterministic)."""

    def __init__(self, miss_rate: float = 0.0, jitter_px: float = 0.0, seed: int = 0,
                 classes: Sequence[str] = ("garbage_bag", "person", "bin")):
        self.miss_rate = miss_rate
        self.jitter_px = jitter_px
        self.classes = tuple(classes)
        self._rng = random.Random(seed)
        self._boxes: list = []
        self.calls = 0

    def feed(self, boxes: Iterable) -> None:
        """Boxes with .cls and .xyxy (hw.sim.TruthBox) or dicts with "cls"/"class" and "xyxy"."""
        self._boxes = list(boxes)

    def detect(self, frame=None) -> list[TruthDetection]:
        self.calls += 1
        out = []
        for b in self._boxes:
            cls = b.get("cls", b.get("class")) if isinstance(b, dict) else b.cls
            xyxy = b["xyxy"] if isinstance(b, dict) else b.xyxy
            if cls not in self.classes:
                continue
            if cls == "bin":  # bins stand still and stay seen; they draw nothing from the random stream
                out.append(TruthDetection(cls, 0.9, tuple(float(v) for v in xyxy)))
                continue
            if self.miss_rate and self._rng.random() < self.miss_rate:
                continue
            if self.jitter_px:
                xyxy = tuple(v + self._rng.uniform(-self.jitter_px, self.jitter_px) for v in xyxy)
            out.append(TruthDetection(cls, 0.9, tuple(float(v) for v in xyxy)))
        return out


class TruthTimeline:
    """Per-frame truth boxes of a rendered clip (`OUT.truth.json`), looked up by clip time."""

    def __init__(self, frames: list[tuple[float, list]]):
        self._times = [t for t, _ in frames]
        self._boxes = [b for _, b in frames]

    @classmethod
    def load(cls, path: str | Path) -> "TruthTimeline":
        data = json.loads(Path(path).read_text(encoding="utf-8"))
        fps = float(data.get("fps", 10.0))
        frames = []
        for i, fr in enumerate(data.get("frames", [])):
            if isinstance(fr, dict):
                t = float(fr.get("t", i / fps))
                boxes = fr.get("boxes", [])
            else:
                t, boxes = i / fps, fr
            frames.append((t, boxes))
        return cls(frames)

    def at(self, t: float) -> list:
        i = bisect_right(self._times, t + 1e-6) - 1
        return self._boxes[i] if i >= 0 else []
