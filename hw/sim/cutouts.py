"""Real objects cut out of labelled pictures along their outlines, and pasted into others.

Used by the real-picture clips (composite.py) and by the detector's pasted training pictures
(models/paste_bags.py): one way to cut, one way to blend, one test for letterbox pixels.
"""
from __future__ import annotations

import numpy as np
import cv2


def letterbox(pixels: np.ndarray, white: int = 245) -> np.ndarray:
    """Per pixel, whether it is flat letterbox: the real-bags export's white edges (above `white` in
    every channel), or the black corners its turned copies fill."""
    return (pixels > white).all(axis=2) | (pixels < 10).all(axis=2)


def polygon_crop(img: np.ndarray, poly: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of img inside the box of poly (N x 2, pixels), and the outline's mask there (uint8, 255 inside)."""
    x0, y0 = np.floor(poly.min(0)).astype(int)
    x1, y1 = np.ceil(poly.max(0)).astype(int)
    x0, y0 = max(0, x0), max(0, y0)
    x1, y1 = min(img.shape[1], x1), min(img.shape[0], y1)
    crop = img[y0:y1, x0:x1]
    mask = np.zeros(crop.shape[:2], np.uint8)
    cv2.fillPoly(mask, [np.round(poly - [x0, y0]).astype(np.int32)], 255)
    return crop, mask


def blend(img: np.ndarray, rgb: np.ndarray, alpha: np.ndarray, x0: int, y0: int) -> tuple | None:
    """rgb over img (float, changed in place) with its top-left corner at (x0, y0), weighted by alpha
    (0..1), cut at img's edges. Returns the box (x1, y1, x2, y2) where it shows (alpha > 0.5), or None
    where none of it does."""
    h, w = alpha.shape
    ih, iw = img.shape[:2]
    xa, ya, xb, yb = max(0, x0), max(0, y0), min(iw, x0 + w), min(ih, y0 + h)
    if xa >= xb or ya >= yb:
        return None
    a = alpha[ya - y0:yb - y0, xa - x0:xb - x0, None]
    img[ya:yb, xa:xb] = img[ya:yb, xa:xb] * (1 - a) + a * rgb[ya - y0:yb - y0, xa - x0:xb - x0]
    ys, xs = np.nonzero(alpha[ya - y0:yb - y0, xa - x0:xb - x0] > 0.5)
    if len(ys) == 0:
        return None
    return (float(xs.min() + xa), float(ys.min() + ya), float(xs.max() + 1 + xa), float(ys.max() + 1 + ya))
