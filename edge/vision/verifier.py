"""A second look at each detected bag: a small image classifier scores a crop around the box.

The detector sees the whole frame at 416 pixels; the verifier sees only the box and a margin of
context, at its own resolution, with ImageNet-pretrained features (EfficientNet-Lite0 fine-tuned
by models/train_verifier.py on bag crops and on the detector's own false bags). A bag keeps
the geometric blend of both scores,

    conf' = conf ** (1 - weight) * p ** weight

so a box both models believe stays high, and one only the detector believes falls. Because
p <= 1, conf' >= threshold needs conf >= threshold ** (1 / (1 - weight)): the detector runs
at that floor and no box that could pass is lost. Other classes pass unchanged.

`crop_box` is the one crop both training and the box use.
"""
from __future__ import annotations

from dataclasses import replace
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .detector import PAD_VALUE, Detection, Detector, ModelError, cpu_session

MARGIN = 0.15  # context on each side, a share of the box's longer side
CHECKED = "garbage_bag"


def crop_box(frame_bgr: np.ndarray, xyxy: Sequence[float], size: int, margin: float = MARGIN) -> np.ndarray:
    """A size x size BGR crop: the box grown by margin of its longer side and squared about its
    centre (aspect kept), padded with the detector's grey where it leaves the frame."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    side = max(x2 - x1, y2 - y1, 2.0) * (1 + 2 * margin)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    l, t = int(round(cx - side / 2)), int(round(cy - side / 2))
    s = max(int(round(side)), 2)
    h, w = frame_bgr.shape[:2]
    sx1, sy1, sx2, sy2 = max(l, 0), max(t, 0), min(l + s, w), min(t + s, h)
    square = np.full((s, s, 3), PAD_VALUE, np.uint8)
    if sx2 > sx1 and sy2 > sy1:
        square[sy1 - t:sy2 - t, sx1 - l:sx2 - l] = frame_bgr[sy1:sy2, sx1:sx2]
    interp = cv2.INTER_AREA if s > size else cv2.INTER_LINEAR
    return cv2.resize(square, (size, size), interpolation=interp)


def to_input(crops_bgr: Sequence[np.ndarray]) -> np.ndarray:
    """Crops -> N x 3 x S x S float32 in EfficientNet-Lite's range ((pixel - 127) / 128, RGB)."""
    x = np.stack([c[:, :, ::-1] for c in crops_bgr]).astype(np.float32)
    return np.ascontiguousarray(((x - 127.0) / 128.0).transpose(0, 3, 1, 2))


def blend(conf: float | np.ndarray, p: float | np.ndarray, weight: float):
    return np.power(conf, 1.0 - weight) * np.power(p, weight)


def detector_floor(threshold: float, weight: float) -> float:
    """The lowest detector score whose blend can still reach threshold."""
    return float(threshold ** (1.0 / (1.0 - weight))) if weight < 1 else 0.0


class CropVerifier:
    """The classifier (ONNX: N x 3 x S x S in, N logits or N x 1 out) on onnxruntime."""

    def __init__(self, model_path: str | Path, threads: int = 2):
        self.session, path = cpu_session(model_path, threads, "the verifier")
        inp = self.session.get_inputs()[0]
        if len(inp.shape) != 4 or not isinstance(inp.shape[2], int) or inp.shape[2] != inp.shape[3]:
            raise ModelError(f"model {path} is not a crop verifier (input {inp.shape}; a square N x 3 x S x S is needed)")
        self.input_name = inp.name
        self.size = int(inp.shape[2])
        self.model_path = path

    def probs(self, frame_bgr: np.ndarray, boxes: Sequence[Sequence[float]]) -> np.ndarray:
        """The probability that each box holds a bag."""
        if not len(boxes):
            return np.zeros(0, np.float32)
        x = to_input([crop_box(frame_bgr, b, self.size) for b in boxes])
        logits = np.asarray(self.session.run(None, {self.input_name: x})[0], np.float32).reshape(len(boxes))
        return 1.0 / (1.0 + np.exp(-logits))


class VerifiedDetector:
    """A detector whose bags are rescored by a CropVerifier (see the module's docstring)."""

    def __init__(self, detector: Detector, verifier: CropVerifier, weight: float, conf: float):
        if not 0 <= weight < 1:
            raise ValueError("verifier weight must be in [0, 1)")
        self.detector, self.verifier, self.weight, self.conf = detector, verifier, float(weight), float(conf)
        self.detector.conf = min(self.detector.conf, detector_floor(self.conf, self.weight))
        self.names, self.backend, self.imgsz = detector.names, detector.backend, detector.imgsz

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        dets = self.detector.detect(frame_bgr)
        bags = [i for i, d in enumerate(dets) if d.cls == CHECKED]
        p = dict(zip(bags, self.verifier.probs(frame_bgr, [dets[i].xyxy for i in bags])))
        out = []
        for i, d in enumerate(dets):
            if i in p:
                d = replace(d, conf=float(blend(d.conf, p[i], self.weight)))
            if d.conf >= self.conf:
                out.append(d)
        return sorted(out, key=lambda d: -d.conf)
