"""Raspberry Pi camera modules through Picamera2 (libcamera); only where the package imports."""
from __future__ import annotations

import numpy as np

from .base import CameraError


def available() -> bool:
    try:
        import picamera2  # noqa: F401
    except Exception:
        return False
    return True


class Picamera2Grabber:
    paced = False

    def __init__(self, number: int, width: int, height: int, fps: float):
        self.number, self.width, self.height, self.fps = number, width, height, fps
        self._cam = None

    def open(self) -> None:
        try:
            from picamera2 import Picamera2
        except Exception as e:
            raise CameraError(f"picamera2 is not installed on this system ({e}); apt install python3-picamera2") from None
        try:
            cam = Picamera2(self.number)
            # libcamera's RGB888 is B,G,R in memory: what OpenCV calls BGR
            cfg = cam.create_video_configuration(main={"size": (self.width, self.height), "format": "RGB888"},
                                                 controls={"FrameRate": float(self.fps)})
            cam.configure(cfg)
            cam.start()
        except Exception as e:
            raise CameraError(f"cannot start Pi camera {self.number}: {e}") from None
        self._cam = cam

    def read(self) -> np.ndarray:
        if self._cam is None:
            raise CameraError("camera not open")
        try:
            frame = self._cam.capture_array("main")
        except Exception as e:
            raise CameraError(f"Pi camera read failed: {e}") from None
        return frame[:, :, :3] if frame.ndim == 3 and frame.shape[2] == 4 else frame

    def close(self) -> None:
        if self._cam is not None:
            try:
                self._cam.stop()
                self._cam.close()
            except Exception:
                pass
            self._cam = None
