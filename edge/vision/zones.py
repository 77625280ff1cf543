"""Pure geometry of the zones drawn on the camera image.

A thing on the ground is located by the bottom-centre of its box (where it touches the floor).
It is "outside the bins" when that anchor lies in the `floor` polygon and in no bin polygon.
No IO, no state: every function takes its inputs and returns a value.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

Point = tuple[float, float]
Box = tuple[float, float, float, float]  # x1, y1, x2, y2 in pixels

FLOOR = "floor"


def anchor(xyxy: Sequence[float]) -> Point:
    """Bottom-centre of a box: the point where an object stands on the floor."""
    x1, _y1, x2, y2 = xyxy
    return ((x1 + x2) / 2.0, float(y2))


def point_in_polygon(pt: Point, polygon: Sequence[Point]) -> bool:
    """Ray casting; points on an edge count as inside (a bag touching a bin's outline is in it)."""
    x, y = pt
    n = len(polygon)
    if n < 3:
        return False
    inside = False
    j = n - 1
    for i in range(n):
        xi, yi = polygon[i]
        xj, yj = polygon[j]
        if _on_segment(x, y, xi, yi, xj, yj):
            return True
        if (yi > y) != (yj > y):
            x_cross = xi + (y - yi) * (xj - xi) / (yj - yi)
            if x < x_cross:
                inside = not inside
        j = i
    return inside


def _on_segment(x: float, y: float, x1: float, y1: float, x2: float, y2: float, eps: float = 1e-9) -> bool:
    cross = (x - x1) * (y2 - y1) - (y - y1) * (x2 - x1)
    if abs(cross) > eps * max(1.0, abs(x2 - x1) + abs(y2 - y1)):
        return False
    return min(x1, x2) - eps <= x <= max(x1, x2) + eps and min(y1, y2) - eps <= y <= max(y1, y2) + eps


def box_area(b: Sequence[float]) -> float:
    return max(0.0, b[2] - b[0]) * max(0.0, b[3] - b[1])


def intersection(a: Sequence[float], b: Sequence[float]) -> float:
    w = min(a[2], b[2]) - max(a[0], b[0])
    h = min(a[3], b[3]) - max(a[1], b[1])
    return w * h if w > 0 and h > 0 else 0.0


def iou(a: Sequence[float], b: Sequence[float]) -> float:
    inter = intersection(a, b)
    if inter <= 0:
        return 0.0
    return inter / (box_area(a) + box_area(b) - inter)


def is_held(bag: Sequence[float], persons: Iterable[Sequence[float]],
            min_overlap: float = 0.3, lift_frac: float = 0.12) -> bool:
    """True when a bag box looks carried by a person: it overlaps the person's box and its bottom
    hangs clearly above the person's feet. A bag on the floor beside someone sits at foot level."""
    area = box_area(bag)
    if area <= 0:
        return False
    for p in persons:
        if intersection(bag, p) / area < min_overlap:
            continue
        person_h = p[3] - p[1]
        if person_h > 0 and bag[3] < p[3] - lift_frac * person_h:
            return True
    return False


def person_overlap(bag: Sequence[float], persons: Iterable[Sequence[float]]) -> float:
    """The largest share of the bag box's area covered by one person box (0..1)."""
    area = box_area(bag)
    if area <= 0:
        return 0.0
    return max((intersection(bag, p) / area for p in persons), default=0.0)


@dataclass(frozen=True)
class ZoneMap:
    """The floor polygon and the bin polygons, from `zones` in the config."""

    floor: tuple[Point, ...]
    bins: tuple[tuple[str, tuple[Point, ...]], ...] = ()

    @classmethod
    def from_config(cls, zones) -> "ZoneMap":
        """From an `edge.config.vision.Zones` (or anything with .floor and .bins[].id/.polygon)."""
        return cls(
            floor=tuple((float(x), float(y)) for x, y in zones.floor),
            bins=tuple((b.id, tuple((float(x), float(y)) for x, y in b.polygon)) for b in zones.bins),
        )

    def bin_at(self, pt: Point) -> str | None:
        for bin_id, poly in self.bins:
            if point_in_polygon(pt, poly):
                return bin_id
        return None

    def locate(self, xyxy: Sequence[float]) -> str | None:
        """Where a box stands: "bin:<id>", "floor", or None (outside the watched floor)."""
        pt = anchor(xyxy)
        bin_id = self.bin_at(pt)
        if bin_id is not None:
            return f"bin:{bin_id}"
        if point_in_polygon(pt, self.floor):
            return FLOOR
        return None

    def outside_bins(self, xyxy: Sequence[float]) -> bool:
        """The rule of the product: anchor in the floor zone and in no bin polygon."""
        return self.locate(xyxy) == FLOOR
