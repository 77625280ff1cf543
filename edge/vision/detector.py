"""The object detector behind one small interface, with two backends.

- `onnx`: onnxruntime with our own letterbox, YOLOv8 output decoding and NMS in numpy. Lean:
  importing this module never imports torch, so the box needs only onnxruntime.
- `ultralytics`: any format the ultralytics package loads (.pt, .onnx, NCNN folder), imported
  only when that backend is chosen.

`load_detector(...)` raises `ModelError` with one clear sentence when the model file is
missing, unreadable or not a detector, so the agent can stop at start with a useful message.
"""
from __future__ import annotations

import ast
import contextlib
import logging
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, Sequence, runtime_checkable

import cv2
import numpy as np

log = logging.getLogger(__name__)

DEFAULT_NAMES: tuple[str, ...] = ("garbage_bag", "bin", "person")
BACKENDS: tuple[str, ...] = ("onnx", "ultralytics")
PAD_VALUE = 114  # ultralytics' letterbox grey, so both backends see the same picture
MAX_DET = 300


class ModelError(RuntimeError):
    """The detector model cannot be used (missing, wrong file, wrong backend)."""


@dataclass(frozen=True)
class Detection:
    cls: str  # class name, e.g. "garbage_bag"
    conf: float
    xyxy: tuple[float, float, float, float]  # pixels of the original frame
    cls_id: int = 0

    def as_dict(self) -> dict:
        return {"class": self.cls, "conf": round(self.conf, 4), "xyxy": [round(v, 1) for v in self.xyxy]}


@runtime_checkable
class Detector(Protocol):
    names: Sequence[str]
    backend: str
    imgsz: int

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]: ...


def letterbox(img: np.ndarray, size: int, stride: int | None = None) -> tuple[np.ndarray, float, tuple[float, float]]:
    """Resize keeping the aspect ratio and pad (centred) as ultralytics does.

    Without stride the result is size x size; with stride (a model with a dynamic input) only
    the short side is padded, to a multiple of stride: a 4:3 frame at 320 becomes 320 x 256,
    a fifth less work. Returns the padded image, the scale and the (left, top) padding.
    """
    h, w = img.shape[:2]
    r = min(size / h, size / w)
    nw, nh = int(round(w * r)), int(round(h * r))
    dw, dh = (size - nw), (size - nh)
    if stride:
        dw, dh = dw % stride, dh % stride
    dw, dh = dw / 2, dh / 2
    if (w, h) != (nw, nh):
        img = cv2.resize(img, (nw, nh), interpolation=cv2.INTER_LINEAR)
    top, bottom = int(round(dh - 0.1)), int(round(dh + 0.1))
    left, right = int(round(dw - 0.1)), int(round(dw + 0.1))
    out = cv2.copyMakeBorder(img, top, bottom, left, right, cv2.BORDER_CONSTANT, value=(PAD_VALUE,) * 3)
    return out, r, (float(left), float(top))


def nms(boxes: np.ndarray, scores: np.ndarray, iou: float) -> np.ndarray:
    """Greedy non-maximum suppression. boxes Nx4 xyxy; returns kept indices, best first."""
    order = scores.argsort()[::-1]
    x1, y1, x2, y2 = boxes.T
    areas = (x2 - x1).clip(0) * (y2 - y1).clip(0)
    keep: list[int] = []
    while order.size:
        i = int(order[0])
        keep.append(i)
        if order.size == 1:
            break
        rest = order[1:]
        xx1 = np.maximum(x1[i], x1[rest])
        yy1 = np.maximum(y1[i], y1[rest])
        xx2 = np.minimum(x2[i], x2[rest])
        yy2 = np.minimum(y2[i], y2[rest])
        inter = (xx2 - xx1).clip(0) * (yy2 - yy1).clip(0)
        ov = inter / (areas[i] + areas[rest] - inter + 1e-9)
        order = rest[ov <= iou]
    return np.array(keep, dtype=np.int64)


def decode_yolov8(out: np.ndarray, conf: float, iou: float, scale: float, pad: tuple[float, float],
                  frame_wh: tuple[int, int], max_det: int = MAX_DET) -> list[tuple[int, float, tuple[float, float, float, float]]]:
    """YOLOv8 head output (1, 4+nc, N) -> [(class id, conf, xyxy in frame pixels)], class-aware NMS."""
    pred = out[0] if out.ndim == 3 else out
    pred = pred.T  # N x (4+nc)
    scores_all = pred[:, 4:]
    cls_ids = scores_all.argmax(1)
    scores = scores_all[np.arange(len(pred)), cls_ids]
    m = scores > conf
    if not m.any():
        return []
    pred, cls_ids, scores = pred[m], cls_ids[m], scores[m]
    cx, cy, bw, bh = pred[:, 0], pred[:, 1], pred[:, 2], pred[:, 3]
    boxes = np.stack([cx - bw / 2, cy - bh / 2, cx + bw / 2, cy + bh / 2], 1)
    # offset boxes by class so NMS never suppresses across classes (ultralytics' agnostic=False)
    keep = nms(boxes + cls_ids[:, None] * 7680.0, scores, iou)[:max_det]
    W, H = frame_wh
    res = []
    for k in keep:
        x1, y1, x2, y2 = boxes[k]
        x1 = min(max((x1 - pad[0]) / scale, 0.0), W)
        x2 = min(max((x2 - pad[0]) / scale, 0.0), W)
        y1 = min(max((y1 - pad[1]) / scale, 0.0), H)
        y2 = min(max((y2 - pad[1]) / scale, 0.0), H)
        res.append((int(cls_ids[k]), float(scores[k]), (float(x1), float(y1), float(x2), float(y2))))
    return res


def _names_from_meta(meta: dict[str, str], nc: int) -> tuple[str, ...]:
    raw = meta.get("names")
    if raw:
        try:
            d = ast.literal_eval(raw)
            if isinstance(d, dict):
                return tuple(str(d[i]) for i in sorted(d))
            if isinstance(d, (list, tuple)):
                return tuple(str(v) for v in d)
        except (ValueError, SyntaxError, KeyError):
            log.warning("model metadata has unreadable class names; using the defaults")
    if nc == len(DEFAULT_NAMES):
        return DEFAULT_NAMES
    return tuple(DEFAULT_NAMES[i] if i < len(DEFAULT_NAMES) else f"class{i}" for i in range(nc))


class OnnxDetector:
    """YOLOv8 ONNX model on onnxruntime (CPU)."""

    backend = "onnx"

    def __init__(self, model_path: str | Path, imgsz: int = 320, conf: float = 0.4, iou: float = 0.5, threads: int = 2):
        self.session, path = cpu_session(model_path, threads, "the onnx backend")
        inp = self.session.get_inputs()[0]
        outs = self.session.get_outputs()
        if len(inp.shape) != 4 or len(outs) < 1 or len(outs[0].shape) != 3:
            raise ModelError(f"model {path} is not a YOLO detector (input {inp.shape}, output {[o.shape for o in outs]})")
        self.input_name = inp.name
        fixed = inp.shape[2] if isinstance(inp.shape[2], int) else None
        self.dynamic = fixed is None
        self.imgsz = int(imgsz)
        if fixed and fixed != self.imgsz:
            log.warning("model %s has a fixed input size %d; using it instead of imgsz %d", path.name, fixed, self.imgsz)
            self.imgsz = int(fixed)
        meta = self.session.get_modelmeta().custom_metadata_map or {}
        try:
            self.stride = int(meta.get("stride", 32))
        except ValueError:
            self.stride = 32
        if meta.get("task") not in (None, "detect"):
            raise ModelError(f"model {path} is a {meta.get('task')} model, not a detector")
        nc = outs[0].shape[1] - 4 if isinstance(outs[0].shape[1], int) else len(DEFAULT_NAMES)
        if nc < 1:
            raise ModelError(f"model {path} has an output of unexpected shape {outs[0].shape}")
        self.names = _names_from_meta(meta, nc)
        self.conf, self.iou = float(conf), float(iou)
        self.model_path = path

    def preprocess(self, frame_bgr: np.ndarray) -> tuple[np.ndarray, float, tuple[float, float]]:
        img, r, pad = letterbox(frame_bgr, self.imgsz, self.stride if self.dynamic else None)
        blob = cv2.dnn.blobFromImage(img, 1 / 255.0, swapRB=True)  # NCHW float32 RGB
        return blob, r, pad

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        if frame_bgr is None or frame_bgr.ndim != 3:
            raise ValueError("detect() needs a BGR image (H x W x 3)")
        blob, r, pad = self.preprocess(frame_bgr)
        out = self.session.run(None, {self.input_name: blob})[0]
        h, w = frame_bgr.shape[:2]
        return self.detections(decode_yolov8(out, self.conf, self.iou, r, pad, (w, h)))

    def detections(self, found: list[tuple[int, float, tuple[float, float, float, float]]]) -> list[Detection]:
        """decode_yolov8's (class id, conf, xyxy) as Detections named by the model's classes."""
        return [Detection(self.names[c] if c < len(self.names) else f"class{c}", s, b, c) for c, s, b in found]


class UltralyticsDetector:
    """Any model ultralytics loads (.pt, .onnx, NCNN folder, …); needs the ultralytics extra."""

    backend = "ultralytics"

    def __init__(self, model_path: str | Path, imgsz: int = 320, conf: float = 0.4, iou: float = 0.5, threads: int = 2):
        path = Path(model_path)
        if not path.exists():
            raise ModelError(f"model file not found: {path}")
        os.environ.setdefault("YOLO_OFFLINE", "1")  # never reach for the network on the box
        try:
            import torch
            from ultralytics import YOLO
        except ImportError:
            raise ModelError("the ultralytics backend needs the ultralytics package (pip install 'garbage-edge[ultralytics]')") from None
        torch.set_num_threads(max(1, int(threads)))
        try:
            from ultralytics.utils import LOGGER

            LOGGER.setLevel(logging.WARNING)  # its progress lines would mix into our stdout (JSON)
        except ImportError:
            pass
        try:
            self.model = YOLO(str(path), task="detect")
            # for an exported file (.onnx, NCNN) reading the names loads it: a broken file fails here
            names = self.model.names
        except Exception as exc:
            raise ModelError(f"ultralytics cannot load model {path} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None
        self.imgsz, self.conf, self.iou = int(imgsz), float(conf), float(iou)
        self.model_path = path
        self._names_loaded = bool(names)
        self.names = tuple(names[i] for i in sorted(names)) if names else DEFAULT_NAMES
        # the first call builds the predictor (and for an exported file, loads it): do it now so errors show at start
        try:
            with contextlib.redirect_stdout(sys.stderr):
                self.detect(np.zeros((64, 64, 3), np.uint8))
        except Exception as exc:
            raise ModelError(f"ultralytics cannot run model {path} ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None

    def detect(self, frame_bgr: np.ndarray) -> list[Detection]:
        res = self.model.predict(frame_bgr, imgsz=self.imgsz, conf=self.conf, iou=self.iou, device="cpu",
                                 verbose=False, max_det=MAX_DET)[0]
        names = res.names or dict(enumerate(self.names))
        b = res.boxes
        xyxy = b.xyxy.cpu().numpy() if b is not None else np.zeros((0, 4))
        confs = b.conf.cpu().numpy() if b is not None else np.zeros(0)
        clss = b.cls.cpu().numpy().astype(int) if b is not None else np.zeros(0, int)
        return [Detection(str(names.get(int(c), f"class{int(c)}")), float(s), tuple(float(v) for v in box), int(c))
                for box, s, c in zip(xyxy, confs, clss)]


def cpu_session(model_path: str | Path, threads: int, user: str):
    """An onnxruntime CPU session for a fixed-size model on a small board, and the model's path;
    ModelError for a missing onnxruntime (naming its user) or a bad file."""
    try:
        import onnxruntime as ort
    except ImportError:
        raise ModelError(f"{user} needs the onnxruntime package (pip install onnxruntime)") from None
    path = _check_file(model_path)
    opts = ort.SessionOptions()
    opts.intra_op_num_threads = max(1, int(threads))
    opts.inter_op_num_threads = 1
    # idle worker threads must sleep, not spin: spinning doubles the CPU-seconds per inference
    opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
    opts.log_severity_level = 3
    # the input size never changes: the arena's spare blocks would only cost a small board RAM
    opts.enable_cpu_mem_arena = False
    try:
        return ort.InferenceSession(str(path), sess_options=opts, providers=["CPUExecutionProvider"]), path
    except Exception as exc:  # onnxruntime raises its own types for a bad file
        raise ModelError(f"model {path} is not a usable ONNX file ({type(exc).__name__}: {str(exc).splitlines()[0][:160]})") from None


def _check_file(model_path: str | Path) -> Path:
    path = Path(model_path)
    if not path.exists():
        raise ModelError(f"model file not found: {path}")
    if not path.is_file():
        raise ModelError(f"model path is not a file: {path}")
    if path.stat().st_size < 1024:
        raise ModelError(f"model file {path} is too small to be a model ({path.stat().st_size} bytes)")
    return path


def load_detector(backend: str, model_path: str | Path, imgsz: int = 320, conf: float = 0.4, iou: float = 0.5,
                  threads: int = 2) -> Detector:
    """The detector for vision.backend / model / imgsz / conf / iou / threads. Raises ModelError."""
    if backend == "onnx":
        return OnnxDetector(model_path, imgsz, conf, iou, threads)
    if backend == "ultralytics":
        return UltralyticsDetector(model_path, imgsz, conf, iou, threads)
    raise ModelError(f"unknown detector backend {backend!r} (use one of: {', '.join(BACKENDS)})")


INT8_SUFFIX = "-int8"  # models/quantize.py writes NAME-int8.onnx beside NAME.onnx


def onnx_precisions(model_path: str | Path) -> tuple[Path, Path]:
    """(float file, INT8 file) of a model, whichever of the two was given; either may not exist."""
    path = Path(model_path)
    stem = path.stem[: -len(INT8_SUFFIX)] if path.stem.endswith(INT8_SUFFIX) else path.stem
    return path.with_name(stem + path.suffix), path.with_name(stem + INT8_SUFFIX + path.suffix)


def available_backends() -> list[str]:
    """Backends whose packages are importable here (without importing them)."""
    import importlib.util

    out = []
    if importlib.util.find_spec("onnxruntime"):
        out.append("onnx")
    if importlib.util.find_spec("ultralytics") and importlib.util.find_spec("torch"):
        out.append("ultralytics")
    return out


def draw_detections(frame_bgr: np.ndarray, dets: list[Detection]) -> np.ndarray:
    """A copy of the frame with the boxes and labels drawn (for `gedge detect --draw`)."""
    colors = {"garbage_bag": (0, 0, 255), "bin": (255, 160, 0), "person": (0, 200, 0)}
    img = frame_bgr.copy()
    for d in dets:
        x1, y1, x2, y2 = (int(round(v)) for v in d.xyxy)
        c = colors.get(d.cls, (0, 255, 255))
        cv2.rectangle(img, (x1, y1), (x2, y2), c, 2)
        cv2.putText(img, f"{d.cls} {d.conf:.2f}", (x1, max(12, y1 - 4)), cv2.FONT_HERSHEY_SIMPLEX, 0.45, c, 1, cv2.LINE_AA)
    return img
