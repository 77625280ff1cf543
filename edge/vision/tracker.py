"""A lean multi-object tracker: greedy IoU matching, then centroid distance, per class.

It is updated only when the detector has run (the motion gate skips still frames), so a bag
that lies still keeps its track between detector runs: tracks age by *missed detector runs*
and by time, never by frames. A track also remembers since when it has been still
(`still_since`): a bag being carried keeps moving and so never starts a dwell timer.
Pure: no threads, no clock of its own; `now` comes with every update.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Iterable, Protocol, Sequence

from .zones import Box, anchor, iou


class DetectionLike(Protocol):
    cls: str
    conf: float
    xyxy: Sequence[float]


@dataclass
class Track:
    id: int
    cls: str
    xyxy: Box
    conf: float
    first_seen: float
    last_seen: float
    still_since: float  # since when the anchor has stayed within the still radius
    hits: int = 1
    misses: int = 0  # consecutive detector runs that did not see it
    ref_anchor: tuple[float, float] = field(default=(0.0, 0.0))

    @property
    def seen_now(self) -> bool:
        """Seen by the latest detector run."""
        return self.misses == 0


class Tracker:
    """Keeps identities across detector runs.

    iou_min: IoU that matches a detection to a track; centroid_frac: failing that, a centre
    within this share of the track box's diagonal matches; forget_after_s and max_misses: a track
    unseen this long *and* this many detector runs is dropped (both, so a slow recheck rate never
    drops a bag that is still there); min_hits: detections before a track is confirmed;
    still_frac / still_min_px: the anchor moving more than max(still_min_px, still_frac * box
    height) restarts the track's still timer.
    """

    def __init__(self, iou_min: float = 0.3, centroid_frac: float = 0.6, forget_after_s: float = 3.0,
                 max_misses: int = 3, min_hits: int = 2, still_frac: float = 0.25, still_min_px: float = 6.0):
        self.iou_min = iou_min
        self.centroid_frac = centroid_frac
        self.forget_after_s = forget_after_s
        self.max_misses = max_misses
        self.min_hits = min_hits
        self.still_frac = still_frac
        self.still_min_px = still_min_px
        self._tracks: list[Track] = []
        self._next_id = 1

    @property
    def tracks(self) -> list[Track]:
        return list(self._tracks)

    def confirmed(self, cls: str | None = None) -> list[Track]:
        return [t for t in self._tracks if t.hits >= self.min_hits and (cls is None or t.cls == cls)]

    def update(self, detections: Iterable[DetectionLike], now: float) -> list[Track]:
        """Feed one detector run. Returns the live tracks after matching."""
        dets = list(detections)
        matched_tracks: set[int] = set()
        matched_dets: set[int] = set()
        by_class: dict[str, list[int]] = {}
        for di, d in enumerate(dets):
            by_class.setdefault(d.cls, []).append(di)
        for cls, det_idx in by_class.items():
            cand = [ti for ti, t in enumerate(self._tracks) if t.cls == cls]
            pairs = []
            for ti in cand:
                for di in det_idx:
                    score = iou(self._tracks[ti].xyxy, dets[di].xyxy)
                    if score >= self.iou_min:
                        pairs.append((score, ti, di))
            pairs.sort(key=lambda p: -p[0])
            self._take(pairs, dets, now, matched_tracks, matched_dets)
            # second pass: fast movers whose boxes no longer overlap
            pairs = []
            for ti in cand:
                if ti in matched_tracks:
                    continue
                tb = self._tracks[ti].xyxy
                diag = math.hypot(tb[2] - tb[0], tb[3] - tb[1])
                for di in det_idx:
                    if di in matched_dets:
                        continue
                    dist = _centre_dist(tb, dets[di].xyxy)
                    if dist <= self.centroid_frac * diag:
                        pairs.append((dist, ti, di))
            pairs.sort(key=lambda p: p[0])
            self._take(pairs, dets, now, matched_tracks, matched_dets)
        kept: list[Track] = []
        for ti, t in enumerate(self._tracks):
            if ti not in matched_tracks:
                t.misses += 1
                if t.misses >= self.max_misses and now - t.last_seen >= self.forget_after_s:
                    continue
            kept.append(t)
        for di, d in enumerate(dets):
            if di not in matched_dets:
                box = _box(d.xyxy)
                kept.append(Track(id=self._next_id, cls=d.cls, xyxy=box, conf=float(d.conf), first_seen=now,
                                  last_seen=now, still_since=now, ref_anchor=anchor(box)))
                self._next_id += 1
        self._tracks = kept
        return self.tracks

    def _take(self, pairs: list[tuple[float, int, int]], dets: list, now: float,
              matched_tracks: set[int], matched_dets: set[int]) -> None:
        """Greedy assignment: (score, track, detection) pairs, best first; each side used once."""
        for _score, ti, di in pairs:
            if ti in matched_tracks or di in matched_dets:
                continue
            self._hit(self._tracks[ti], dets[di], now)
            matched_tracks.add(ti)
            matched_dets.add(di)

    def _hit(self, t: Track, d: DetectionLike, now: float) -> None:
        box = _box(d.xyxy)
        a = anchor(box)
        radius = max(self.still_min_px, self.still_frac * (box[3] - box[1]))
        if math.hypot(a[0] - t.ref_anchor[0], a[1] - t.ref_anchor[1]) > radius:
            t.ref_anchor = a
            t.still_since = now
        t.xyxy = box
        t.conf = float(d.conf)
        t.last_seen = now
        t.hits += 1
        t.misses = 0


def _box(xyxy: Sequence[float]) -> Box:
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    return (x1, y1, x2, y2)


def _centre_dist(a: Sequence[float], b: Sequence[float]) -> float:
    return math.hypot((a[0] + a[2] - b[0] - b[2]) / 2.0, (a[1] + a[3] - b[1] - b[3]) / 2.0)
