"""USB / V4L2 devices, RTSP / HTTP streams and video files, read with cv2.VideoCapture."""
from __future__ import annotations

import logging
import os

import cv2
import numpy as np

from .base import CameraError, SourceSpec, quiet_opencv, redact

log = logging.getLogger(__name__)
quiet_opencv()
# RTSP over TCP (interleaved): no lost UDP packets on busy Wi-Fi, no NAT trouble. A site that needs
# UDP sets OPENCV_FFMPEG_CAPTURE_OPTIONS itself (e.g. in the systemd unit).
RTSP_OPTIONS_ENV = "OPENCV_FFMPEG_CAPTURE_OPTIONS"


class OpenCVGrabber:
    def __init__(self, spec: SourceSpec, width: int, height: int, fps: float, timeout_s: float = 10.0,
                 loop: bool = True):
        self.spec = spec
        self.width, self.height, self.fps = width, height, fps
        self.timeout_ms = int(max(1.0, timeout_s) * 1000)
        self.loop = loop  # a video file used as a live camera starts again at its end
        self.paced = spec.kind == "file"
        self._cap: cv2.VideoCapture | None = None

    def open(self) -> None:
        kind, target = self.spec.kind, self.spec.target
        if kind == "device" and isinstance(target, str) and not os.path.exists(target):
            raise CameraError(f"no such camera device {target} (unplugged?)")
        if kind == "file" and not os.path.isfile(str(target)):
            raise CameraError(f"no such video file {target}")
        if kind == "device":
            cap = cv2.VideoCapture(target, cv2.CAP_V4L2)
        else:
            if str(target).lower().startswith(("rtsp://", "rtsps://")):
                os.environ.setdefault(RTSP_OPTIONS_ENV, "rtsp_transport;tcp")
            params = [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, self.timeout_ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, self.timeout_ms]
            cap = cv2.VideoCapture(str(target), cv2.CAP_FFMPEG, params)
        if not cap.isOpened():
            cap.release()
            what = {"device": "camera device", "stream": "stream", "file": "video file"}[kind]
            name = redact(str(target)) if kind == "stream" else target
            hint = {"device": " (unplugged, busy, or not a capture device?)", "stream": " (unreachable or refused?)",
                    "file": " (not a video, or truncated/corrupt?)"}[kind]
            raise CameraError(f"cannot open {what} {name}{hint}")
        if kind == "device":
            cap.set(cv2.CAP_PROP_FRAME_WIDTH, self.width)
            cap.set(cv2.CAP_PROP_FRAME_HEIGHT, self.height)
            cap.set(cv2.CAP_PROP_FPS, self.fps)
            cap.set(cv2.CAP_PROP_BUFFERSIZE, 1)  # we want the newest frame, not a queue of old ones
        self._cap = cap

    def read(self) -> np.ndarray:
        if self._cap is None:
            raise CameraError("camera not open")
        ok, frame = self._cap.read()
        if not ok and self.spec.kind == "file" and self.loop:
            self._cap.set(cv2.CAP_PROP_POS_FRAMES, 0)
            ok, frame = self._cap.read()
        if not ok or frame is None:
            what = {"device": "camera stopped delivering frames", "stream": "stream lost",
                    "file": "video file unreadable"}[self.spec.kind]
            raise CameraError(what)
        return frame

    def source_fps(self) -> float:
        return float(self._cap.get(cv2.CAP_PROP_FPS)) if self._cap is not None else 0.0

    def close(self) -> None:
        if self._cap is not None:
            try:
                self._cap.release()
            except Exception:  # releasing a dead stream must never raise
                pass
            self._cap = None
