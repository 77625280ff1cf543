"""Evidence snapshots: a JPEG with boxes and zones, scaled and compressed as configured."""
from __future__ import annotations

import cv2
import numpy as np

from edge.config.vision import BinZone, Evidence, Zones
from edge.vision.evidence import EvidenceMaker, snapshot
from edge.vision.zones import ZoneMap

ZONES = ZoneMap.from_config(Zones(bins=[BinZone(id="bin-1", polygon=[(60, 170), (180, 170), (180, 330), (60, 330)])]))


def frame(w: int = 1280, h: int = 960) -> np.ndarray:
    rng = np.random.default_rng(1)
    return rng.integers(0, 255, (h, w, 3), dtype=np.uint8)


def test_snapshot_is_a_jpeg_scaled_to_max_width():
    jpeg = EvidenceMaker(Evidence(max_width=640), ZONES)(frame(), [("bag", (500, 350, 560, 410))])
    assert jpeg[:2] == b"\xff\xd8"
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img.shape[:2] == (480, 640)


def test_quality_changes_size():
    f = frame(640, 480)
    small = snapshot(f, [], ZONES, quality=20)
    big = snapshot(f, [], ZONES, quality=95)
    assert len(small) < len(big) / 2


def test_boxes_and_zones_are_drawn_and_the_frame_is_untouched():
    f = np.zeros((480, 640, 3), np.uint8)
    jpeg = snapshot(f, [("bag", (500, 350, 560, 410))], ZONES, quality=95, draw_zone_lines=True)
    img = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert img[350:412, 498:562, 2].max() > 150  # red bag box
    assert img[255:265, 300:340, 1].max() > 120  # green floor line at y=260
    assert f.max() == 0  # drawn on a copy
    plain = snapshot(f, [], ZONES, quality=95, draw_zone_lines=False)
    assert cv2.imdecode(np.frombuffer(plain, np.uint8), cv2.IMREAD_COLOR).max() < 30
