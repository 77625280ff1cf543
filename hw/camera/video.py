"""Reading a recorded clip for replay: frames with the clip's own timestamps, clear errors."""
from __future__ import annotations

import logging
import os
from typing import Iterator

import cv2
import numpy as np

from .base import VideoError, quiet_opencv

log = logging.getLogger(__name__)
quiet_opencv()


class VideoClip:
    """A video file opened for replay. `frames()` yields (frame, t) with t in seconds from the
    clip start; it raises VideoError when the file turns out truncated or corrupt part-way."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        if not os.path.exists(self.path):
            raise VideoError(f"{self.path}: no such file")
        if not os.path.isfile(self.path):
            raise VideoError(f"{self.path}: not a file")
        if os.path.getsize(self.path) == 0:
            raise VideoError(f"{self.path}: empty file")
        cap = cv2.VideoCapture(self.path, cv2.CAP_FFMPEG)
        if not cap.isOpened():
            cap.release()
            raise VideoError(f"{self.path}: cannot open as video (not a video file, or truncated/corrupt)")
        self._cap = cap
        self.fps = float(cap.get(cv2.CAP_PROP_FPS) or 0.0)
        if not (0.5 <= self.fps <= 240):
            self.fps = 10.0  # some containers give no rate; timestamps still come from the stream
        self.frame_count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT) or 0)
        self.width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH) or 0)
        self.height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT) or 0)

    @property
    def duration_s(self) -> float:
        return self.frame_count / self.fps if self.frame_count and self.fps else 0.0

    def frames(self) -> Iterator[tuple[np.ndarray, float]]:
        cap = self._cap
        i = 0
        last_t = -1.0
        try:
            while True:
                ok, frame = cap.read()
                if not ok or frame is None:
                    break
                t = i / self.fps
                pos = cap.get(cv2.CAP_PROP_POS_MSEC) / 1000.0
                # trust the container's timestamps when they are sane (variable frame rate clips)
                if pos > last_t and abs(pos - t) < 5.0:
                    t = pos
                last_t = t
                i += 1
                yield frame, t
        finally:
            cap.release()
        if i == 0:
            raise VideoError(f"{self.path}: no frame could be decoded (corrupt or not a video)")
        if self.frame_count and i < self.frame_count * 0.98 - 1:
            raise VideoError(f"{self.path}: video ended after {i} of {self.frame_count} frames (truncated or corrupt)")

    def close(self) -> None:
        self._cap.release()


def iter_video(path: str | os.PathLike) -> Iterator[tuple[np.ndarray, float]]:
    """(frame, t) pairs of a clip; raises VideoError (a clear one-line message) on a bad file."""
    return VideoClip(path).frames()
