"""The static-object finder: what is new in the room and has stopped moving, found without a model.

Pure: small normalized pictures (edge.vision.picture) and their times go in, blobs come out; no
threads, no clock of its own. Two backgrounds are kept on the small picture:

- the *room*: what the empty room looks like. It learns, with time constant `slow_tau_s`, only
  the pixels that already look like it, so a bag, a standing person or a bin pulled out never
  becomes part of it; slow shadows and drift are followed because each step is small;
- the *recent* picture: the scene of the last second or so (`fast_tau_s`).

A pixel that differs from the room (by more than `diff_threshold` grey levels, or its local
contrast, the gradient, by more than `edge_threshold`: a bag on a floor of the same grey still has
its own creases and outline) but matches the recent picture is something new that stopped moving. When such pixels have held for `confirm_s` (with gaps of up
to `grace_s` forgiven: noise, a passer-by) and form a blob of at least `min_area_frac` of the
picture, that blob is a static object; `since` is when it came to rest. Pixels under a
person's box (with a margin) or a bin's box are never part of a blob and do not teach the room:
a resident standing still or a bin pulled out of its place is not an object. Under a person the
pixels keep their time, so a bag put down at someone's feet is found, with the time it was put
down, as soon as they step away, and an object already found stays found while someone stands
in front of it.

Healing: when the object is taken away the pixels look like the room again and the blob is
gone at once (a pixel that still differs but moves, someone walking past, keeps its time for
`grace_s`). A blob where a bin's box stood before (and no bin stands now), or whose outline has
stronger edges in the room than in the picture, is a hole: something that belongs to the room
is away (a bin pulled out for collection, a bag that lay there when the finder started). A hole is never reported; when it fills again (the bin is put
back) it is gone, and when it stays `HOLE_ABSORB_S` the room learns its new look. A blob
unchanged for `absorb_after_s` becomes part of the room (a new fixture).
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Sequence

import cv2
import numpy as np

from .zones import iou

Box = Sequence[float]  # x1, y1, x2, y2 in full-frame pixels

HOLE_EDGE_RATIO = 2.0  # the room's edges this much stronger on the outline than the picture's: a hole (holes ~4, objects ~0.3)
PERSON_MARGIN = 0.15  # a person's box grows by this share of its size on each side (shadow, limbs)
BIN_MARGIN = 0.05
MATCH_IOU = 0.3  # a blob overlapping one of the last update this much keeps its id
HOLE_ABSORB_S = 600.0  # a hole that stays this long is the room's new look (a bag there at start-up, taken away)


@dataclass(frozen=True)
class Blob:
    """A static object: id (stable while it stays), box and outline in full-frame pixels, its
    share of the picture, and since when it has lain still (the caller's clock)."""

    id: int
    xyxy: tuple[float, float, float, float]
    area_frac: float
    since: float
    outline: np.ndarray = field(compare=False, repr=False)  # int32 N x 2 polygon, full-frame pixels

    def as_dict(self) -> dict:
        return {"id": self.id, "xyxy": [round(v) for v in self.xyxy], "area_frac": round(self.area_frac, 4),
                "since": round(self.since, 2)}


class StaticFinder:
    """`update(small, now, frame_size, persons, bins)` -> the static objects now (list[Blob])."""

    def __init__(self, fps: float = 2.0, diff_threshold: float = 20.0, fast_tau_s: float = 1.0,
                 slow_tau_s: float = 30.0, confirm_s: float = 4.0, grace_s: float = 3.0,
                 min_area_frac: float = 0.002, absorb_after_s: float = 6 * 3600.0, edge_threshold: float = 10.0):
        self.min_interval_s = 1.0 / fps if fps > 0 else 0.0
        self.diff_threshold = float(diff_threshold)
        self.edge_threshold = float(edge_threshold)
        self.fast_tau_s = fast_tau_s
        self.slow_tau_s = slow_tau_s
        self.confirm_s = confirm_s
        self.grace_s = grace_s
        self.min_area_frac = min_area_frac
        self.absorb_after_s = absorb_after_s
        self.blobs: list[Blob] = []
        self.updates = 0
        self._room: np.ndarray | None = None
        self._recent: np.ndarray | None = None
        self._since: np.ndarray | None = None  # per pixel: since when it has been new and still (inf: not)
        self._last: np.ndarray | None = None  # per pixel: last time it was new and still
        self._found: np.ndarray | None = None  # per pixel: part of an object found (in sight)
        self._t: float | None = None
        self._next_id = 1
        self._checked: set[int] = set()  # blob ids already tested for being a hole
        self._holes: list[Blob] = []  # what is away from the room now (never reported)
        self._bin_places: list[list] = []  # [box, last seen]: where bins have stood

    @classmethod
    def from_config(cls, static) -> "StaticFinder":
        """From `vision.static` (edge.config.vision.Static)."""
        return cls(static.fps, static.diff_threshold, static.fast_tau_s, static.slow_tau_s, static.confirm_s,
                   static.grace_s, static.min_area_frac, static.absorb_after_s, static.edge_threshold)

    def due(self, now: float) -> bool:
        """Whether an update at `now` does any work (the finder runs at `fps`, not every frame)."""
        return self._t is None or now - self._t >= self.min_interval_s - 1e-9

    def update(self, small: np.ndarray, now: float, frame_size: tuple[int, int],
               persons: Sequence[Box] = (), bins: Sequence[Box] = ()) -> list[Blob]:
        """One small picture (uint8, from edge.vision.picture.small_picture) at `now`; frame_size
        (width, height) of the camera frame the boxes and the returned blobs are measured in."""
        if not self.due(now):
            return self.blobs
        pic = _with_edges(small)
        if self._room is None or self._room.shape != pic.shape:
            self._room, self._recent = pic.copy(), pic.copy()
            self._since = np.full(pic.shape[:2], np.inf, np.float32)
            self._last = np.full(pic.shape[:2], -np.inf, np.float32)
            self._found = np.zeros(pic.shape[:2], bool)
            self._t, self.blobs = now, []
            return self.blobs
        self.updates += 1
        dt = max(0.0, now - self._t)
        self._t = now
        scale = (pic.shape[1] / frame_size[0], pic.shape[0] / frame_size[1])
        self._remember_bins(bins, now)
        bin_veto = self._veto_mask(pic.shape[:2], scale, bins, BIN_MARGIN)
        veto = bin_veto | self._veto_mask(pic.shape[:2], scale, persons, PERSON_MARGIN)
        limits = np.array([self.diff_threshold, self.edge_threshold], np.float32)
        new = np.any(np.abs(pic - self._room) > limits, axis=2)
        still = np.all(np.abs(pic - self._recent) <= limits, axis=2)
        candidate = new & still & ~bin_veto  # under a person: keeps time, is never part of a blob
        since, last = self._since, self._last
        since[candidate & np.isinf(since)] = now
        last[candidate] = now
        found = self._found
        last[veto & found & np.isfinite(since)] = now  # a found object hidden behind a person keeps its time
        # back to the room's look: gone at once (even under a person's box: it is not there);
        # changing under a person before it was ever found (a bag in the hand, put down): at once;
        # otherwise (someone walking past, noise) after grace_s
        since[~new | (veto & ~found & ~candidate) | (~candidate & (now - last > self.grace_s))] = np.inf
        found &= np.isfinite(since)
        self._veto = veto
        # the recent picture follows everything; the room learns only what already looks like it
        a_fast = 1.0 - math.exp(-dt / self.fast_tau_s) if self.fast_tau_s > 0 else 1.0
        a_slow = 1.0 - math.exp(-dt / self.slow_tau_s) if self.slow_tau_s > 0 else 1.0
        cv2.accumulateWeighted(pic, self._recent, a_fast)
        learn = (~new & ~veto).astype(np.uint8)  # (accumulateWeighted's mask is per pixel, both planes)
        cv2.accumulateWeighted(pic, self._room, a_slow, mask=learn)
        self.blobs = self._find(pic, now, scale)
        return self.blobs

    @staticmethod
    def _veto_mask(shape, scale, boxes: Sequence[Box], margin: float) -> np.ndarray:
        mask = np.zeros(shape, np.uint8)
        for x1, y1, x2, y2 in boxes:
            mx, my = margin * (x2 - x1), margin * (y2 - y1)
            p1 = (int(math.floor((x1 - mx) * scale[0])) - 1, int(math.floor((y1 - my) * scale[1])) - 1)
            p2 = (int(math.ceil((x2 + mx) * scale[0])) + 1, int(math.ceil((y2 + my) * scale[1])) + 1)
            cv2.rectangle(mask, p1, p2, 1, -1)
        return mask.astype(bool)

    def _find(self, pic: np.ndarray, now: float, scale) -> list[Blob]:
        bins_now = [b for b, seen in self._bin_places if seen == now]
        since = self._since
        settled = since <= now - self.confirm_s
        static = (settled & ~self._veto).astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        static = cv2.morphologyEx(static, cv2.MORPH_OPEN, kernel)  # speckle of noise is no object
        static = cv2.morphologyEx(static, cv2.MORPH_CLOSE, kernel)  # one object, one blob
        n, labels, stats, _ = cv2.connectedComponentsWithStats(static, connectivity=8)
        h, w = static.shape
        min_px = self.min_area_frac * h * w
        out: list[Blob] = []
        holes: list[Blob] = []
        previous = self.blobs + self._holes
        hole_ids = {b.id for b in self._holes}
        for i in range(1, n):
            x, y, bw, bh, area = (int(v) for v in stats[i])
            if area < min_px:
                continue
            comp = labels == i
            xyxy = (x / scale[0], y / scale[1], (x + bw) / scale[0], (y + bh) / scale[1])
            times = since[comp]
            t_rest = float(np.median(times[np.isfinite(times)]))
            match = max(previous, key=lambda b: _likeness(b.xyxy, xyxy), default=None)
            if match is not None and _likeness(match.xyxy, xyxy) >= MATCH_IOU:
                blob_id, t_rest = match.id, min(match.since, t_rest)
            else:
                blob_id = self._next_id
                self._next_id += 1
            if blob_id not in self._checked:
                self._checked.add(blob_id)
                if self._where_a_bin_stood(xyxy, bins_now) or self._is_hole(pic, comp):
                    hole_ids.add(blob_id)
            if now - t_rest >= (HOLE_ABSORB_S if blob_id in hole_ids else self.absorb_after_s):
                self._absorb(pic, comp)
                continue
            blob = Blob(blob_id, xyxy, area / (h * w), t_rest, _outline(comp, scale))
            (holes if blob_id in hole_ids else out).append(blob)
            if blob_id not in hole_ids:
                self._found |= comp
        # a found object that someone now stands in front of stays found, as it was
        seen = {b.id for b in out + holes}
        for b in previous:
            if b.id in seen or b.id in hole_ids:
                continue
            x1, y1 = max(0, int(b.xyxy[0] * scale[0])), max(0, int(b.xyxy[1] * scale[1]))
            x2, y2 = min(w, int(math.ceil(b.xyxy[2] * scale[0]))), min(h, int(math.ceil(b.xyxy[3] * scale[1])))
            if x2 <= x1 or y2 <= y1:
                continue
            if self._veto[y1:y2, x1:x2].mean() >= 0.5 and settled[y1:y2, x1:x2].mean() >= 0.3:
                out.append(b)
        self._holes = holes
        self._checked &= {b.id for b in out + holes}
        return out

    def holes(self) -> list[Blob]:
        """What is away from the room now (a bin pulled out): found, never reported."""
        return list(self._holes)

    def _remember_bins(self, bins: Sequence[Box], now: float) -> None:
        for box in bins:
            same = next((p for p in self._bin_places if iou(p[0], box) >= 0.5), None)
            if same is None:
                self._bin_places.append([tuple(box), now])
            else:
                same[1] = now
        self._bin_places = [p for p in self._bin_places if now - p[1] <= HOLE_ABSORB_S]

    def _where_a_bin_stood(self, xyxy: Box, bins_now: Sequence[Box]) -> bool:
        """The blob lies where a bin's box was seen before, and no bin stands there now."""
        return any(cover(box, xyxy) >= 0.5 and not any(iou(box, b) >= 0.5 for b in bins_now)
                   for box, _ in self._bin_places)

    def _is_hole(self, pic: np.ndarray, comp: np.ndarray) -> bool:
        """Something taken away rather than put down: the blob's outline is an edge of the room,
        not of the picture now (a bag put down has its edges in the picture)."""
        m = comp.astype(np.uint8)
        kernel = np.ones((3, 3), np.uint8)
        ring = (cv2.dilate(m, kernel) - cv2.erode(m, kernel)).astype(bool)
        if not ring.any():
            return False
        return _edge_energy(self._room[..., 0], ring) > HOLE_EDGE_RATIO * _edge_energy(pic[..., 0], ring)

    def _absorb(self, pic: np.ndarray, comp: np.ndarray) -> None:
        self._room[comp] = pic[comp]
        self._since[comp] = np.inf


def cover(a: Box, b: Box) -> float:
    """The share of the smaller of two boxes that the other covers."""
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    small = min((a[2] - a[0]) * (a[3] - a[1]), (b[2] - b[0]) * (b[3] - b[1]))
    return ix * iy / small if small > 0 else 0.0


def _likeness(a: Box, b: Box) -> float:
    """IoU, or half the share of the smaller box covered (one object seen partly hidden)."""
    return max(iou(a, b), 0.5 * cover(a, b))


def _with_edges(small: np.ndarray) -> np.ndarray:
    """The picture and its local contrast (gradient magnitude, in grey levels per pixel) as two planes."""
    pic = small.astype(np.float32)
    gx = cv2.Sobel(pic, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(pic, cv2.CV_32F, 0, 1, ksize=3)
    edges = cv2.GaussianBlur(np.abs(gx) + np.abs(gy), (5, 5), 0) * 0.25
    return cv2.merge([pic, edges])


def _outline(comp: np.ndarray, scale) -> np.ndarray:
    contours, _ = cv2.findContours(comp.astype(np.uint8), cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    outline = max(contours, key=cv2.contourArea).reshape(-1, 2).astype(np.float32)
    return np.round(outline / np.array(scale, np.float32)).astype(np.int32)


def _edge_energy(img: np.ndarray, where: np.ndarray) -> float:
    gx = cv2.Sobel(img, cv2.CV_32F, 1, 0, ksize=3)
    gy = cv2.Sobel(img, cv2.CV_32F, 0, 1, ksize=3)
    return float(np.mean(np.abs(gx[where]) + np.abs(gy[where])))
