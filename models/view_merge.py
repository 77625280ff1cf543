"""Two views of each picture merged into one set of detections, to measure what test-time
augmentation or a two-model ensemble would give (models/evaluate.py --merge). Not in the product:
either doubles the detector's CPU per frame, and on validation neither beat one view.

    det = MergedDetector(load_detector("onnx", model, …), second=None, how="mean")   # model + its mirror
    det = MergedDetector(first, second=load_detector("onnx", other, …), how="max")     # two models

The second view is the same model on the mirrored picture (second=None) or another model on the
same picture. `how`:
- "max": both views' raw candidates through one NMS, as ultralytics' augment does: a box keeps
  its best score, so a bag either view sees is kept;
- "mean": each view decoded on its own, and a box's score averaged with its best match in the
  other view (IoU ≥ MATCH_IOU; 0 where the other view has none, so one view alone halves it) and
  the matched boxes averaged by score: a box both views agree on rises above one only one sees.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import Detection, decode_yolov8  # noqa: E402
from edge.vision.zones import iou  # noqa: E402

HOWS = ("max", "mean")
MATCH_IOU = 0.55  # a box of one view is the same object as one of the other (weighted box fusion's usual value)


def mirrored_output(out: np.ndarray, input_width: int) -> np.ndarray:
    """A head output (1, 4+nc, N) of the mirrored input, in the unmirrored input's coordinates."""
    out = out.copy()
    out[:, 0, :] = input_width - out[:, 0, :]
    return out


def mean_merge(a: list, b: list, conf: float) -> list:
    """(class id, score, xyxy) of two views -> the merged list ("mean" above), scores above conf."""
    used: set[int] = set()
    merged = []
    for c, s, box in a:
        best, bj = 0.0, -1
        for j, (c2, _, box2) in enumerate(b):
            if c2 == c and j not in used:
                v = iou(box, box2)
                if v > best:
                    best, bj = v, j
        if best >= MATCH_IOU:
            used.add(bj)
            s2, box2 = b[bj][1], b[bj][2]
            merged.append((c, (s + s2) / 2, tuple((s * p + s2 * q) / (s + s2) for p, q in zip(box, box2))))
        else:
            merged.append((c, s / 2, box))
    merged += [(c, s / 2, box) for j, (c, s, box) in enumerate(b) if j not in used]
    return sorted((m for m in merged if m[1] > conf), key=lambda m: -m[1])


class MergedDetector:
    """An OnnxDetector's detect() over two views (see the module's docstring)."""

    def __init__(self, first, second=None, how: str = "mean"):
        if how not in HOWS:
            raise ValueError(f"how must be one of {HOWS}, not {how!r}")
        if second is not None and second.imgsz != first.imgsz:
            raise ValueError("the two models must run at the same input size")
        self.first, self.second, self.how = first, second, how
        self.conf, self.iou = first.conf, first.iou

    def _outputs(self, blob: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        d = self.first
        out = d.session.run(None, {d.input_name: blob})[0]
        if self.second is not None:
            return out, self.second.session.run(None, {self.second.input_name: blob})[0]
        flipped = d.session.run(None, {d.input_name: np.ascontiguousarray(blob[..., ::-1])})[0]
        return out, mirrored_output(flipped, blob.shape[3])

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        blob, r, pad = self.first.preprocess(frame_bgr)
        a, b = self._outputs(blob)
        wh = (frame_bgr.shape[1], frame_bgr.shape[0])
        if self.how == "max":
            found = decode_yolov8(np.concatenate([a, b], axis=2), self.conf, self.iou, r, pad, wh)
        else:  # a box one view scores just under conf still counts half towards the merged score
            found = mean_merge(decode_yolov8(a, self.conf / 2, self.iou, r, pad, wh),
                               decode_yolov8(b, self.conf / 2, self.iou, r, pad, wh), self.conf)
        return self.first.detections(found)
