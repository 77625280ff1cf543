"""Evidence pictures: the frame with the bag boxes (and the zones) drawn, as a JPEG.

Config `evidence`: jpeg_quality, max_width (wider frames are scaled down), draw_zones.
"""
from __future__ import annotations

from typing import Iterable, Sequence

import cv2
import numpy as np

from .zones import ZoneMap

FLOOR_COLOUR = (0, 200, 0)   # BGR
BIN_COLOUR = (255, 160, 0)
BAG_COLOUR = (0, 0, 255)
OTHER_COLOUR = (200, 200, 200)


def draw_zones(img: np.ndarray, zones: ZoneMap, thickness: int = 2) -> np.ndarray:
    """Draw the floor and bin polygons with their names on `img` (in place) and return it."""
    floor = np.array(zones.floor, dtype=np.int32).reshape(-1, 1, 2)
    cv2.polylines(img, [floor], True, FLOOR_COLOUR, thickness, cv2.LINE_AA)
    x, y = floor[:, 0, :].min(axis=0)
    _label(img, "floor", int(x) + 4, int(y) + 16, FLOOR_COLOUR)
    for bin_id, poly in zones.bins:
        pts = np.array(poly, dtype=np.int32).reshape(-1, 1, 2)
        cv2.polylines(img, [pts], True, BIN_COLOUR, thickness, cv2.LINE_AA)
        x, y = pts[:, 0, :].min(axis=0)
        _label(img, bin_id, int(x) + 4, int(y) + 16, BIN_COLOUR)
    return img


def draw_boxes(img: np.ndarray, boxes: Iterable[tuple[str, Sequence[float]]], colour=BAG_COLOUR,
               thickness: int = 2) -> np.ndarray:
    """Draw (label, xyxy) boxes on `img` in place, with the anchor point the zone rule uses."""
    for label, (x1, y1, x2, y2) in boxes:
        p1, p2 = (int(round(x1)), int(round(y1))), (int(round(x2)), int(round(y2)))
        cv2.rectangle(img, p1, p2, colour, thickness, cv2.LINE_AA)
        cv2.circle(img, (int(round((x1 + x2) / 2)), p2[1]), 3, colour, -1, cv2.LINE_AA)
        if label:
            _label(img, label, p1[0], max(12, p1[1] - 4), colour)
    return img


def draw_outlines(img: np.ndarray, outlines: Iterable[tuple[str, np.ndarray]], colour=BAG_COLOUR,
                  thickness: int = 2) -> np.ndarray:
    """Draw (label, N x 2 polygon) outlines of found objects on `img` in place."""
    for label, pts in outlines:
        pts = np.asarray(pts, dtype=np.int32).reshape(-1, 1, 2)
        if len(pts) < 2:
            continue
        cv2.polylines(img, [pts], True, colour, thickness, cv2.LINE_AA)
        if label:
            x, y = pts[:, 0, :].min(axis=0)
            _label(img, label, int(x), max(12, int(y) - 4), colour)
    return img


def _label(img: np.ndarray, text: str, x: int, y: int, colour) -> None:
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, (0, 0, 0), 3, cv2.LINE_AA)
    cv2.putText(img, text, (x, y), cv2.FONT_HERSHEY_SIMPLEX, 0.45, colour, 1, cv2.LINE_AA)


def encode_jpeg(img: np.ndarray, quality: int = 80, max_width: int = 960) -> bytes:
    """JPEG bytes of `img`, scaled down to max_width when wider."""
    h, w = img.shape[:2]
    if w > max_width:
        img = cv2.resize(img, (max_width, max(1, round(h * max_width / w))), interpolation=cv2.INTER_AREA)
    ok, buf = cv2.imencode(".jpg", img, [cv2.IMWRITE_JPEG_QUALITY, int(quality)])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return buf.tobytes()


def snapshot(frame: np.ndarray, bags: Iterable[tuple[str, Sequence[float]]], zones: ZoneMap | None,
             quality: int = 80, max_width: int = 960, draw_zone_lines: bool = True,
             others: Iterable[tuple[str, Sequence[float]]] = (),
             outlines: Iterable[tuple[str, np.ndarray]] = ()) -> bytes:
    """The evidence JPEG: a copy of the frame with zones (optional), other objects, bags and the
    outlines of static objects (edge.vision.static) drawn."""
    img = frame.copy()
    if draw_zone_lines and zones is not None:
        draw_zones(img, zones)
    draw_boxes(img, others, OTHER_COLOUR, 1)
    draw_boxes(img, bags, BAG_COLOUR, 2)
    draw_outlines(img, outlines, BAG_COLOUR, 2)
    return encode_jpeg(img, quality, max_width)


class EvidenceMaker:
    """Snapshot settings from config `evidence`, bound to the zones."""

    def __init__(self, evidence, zones: ZoneMap):
        self.quality = evidence.jpeg_quality
        self.max_width = evidence.max_width
        self.draw_zones = evidence.draw_zones
        self.zones = zones

    def __call__(self, frame: np.ndarray, bags, others=(), outlines=()) -> bytes:
        return snapshot(frame, bags, self.zones, self.quality, self.max_width, self.draw_zones, others, outlines)
