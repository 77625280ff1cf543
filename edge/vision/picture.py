"""The small, light-normalized picture that the motion gate and the static-object finder share.

Each camera frame is turned grey, area-averaged down to `width` pixels wide, blurred, and
scaled so that its mean grey level is `NORMAL_MEAN`. A global light change or an exposure step
of the camera multiplies every grey level by about the same factor; dividing by the frame's
mean takes that factor out, so neither the gate nor the finder sees a light change as an
object. Computed once per frame (`small_picture`) and handed to both.
"""
from __future__ import annotations

import cv2
import numpy as np

NORMAL_MEAN = 100.0  # the mean grey level of every normalized picture (room left for highlights below 255)
_MIN_MEAN = 4.0  # a black frame (lens covered, lights off) is not stretched into noise


def small_picture(frame: np.ndarray, width: int) -> np.ndarray:
    """The frame as a small normalized grey picture (uint8, `width` wide at most)."""
    h, w = frame.shape[:2]
    sw = min(width, w)
    sh = max(1, round(h * sw / w))
    # grey first, then area-average down: the same picture as the other way round, at half the cost
    grey = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY) if frame.ndim == 3 else frame
    grey = cv2.resize(grey, (sw, sh), interpolation=cv2.INTER_AREA)
    grey = cv2.GaussianBlur(grey, (5, 5), 0)
    mean = max(_MIN_MEAN, float(cv2.mean(grey)[0]))
    return cv2.convertScaleAbs(grey, alpha=NORMAL_MEAN / mean)
