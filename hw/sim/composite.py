"""Clips built from real pictures, for testing the static-object finder on real pixels.

A real photo is the fixed background of a room seen by a fixed camera, with what real cameras
add: sensor noise, a small jitter of the mount, slow brightness drift, an auto-exposure jump and
JPEG compression. Real bags, cut out of labelled photos along their polygon labels, are carried
in by a walking person (the simulated room's figure) and left on the floor; or nothing is left
(someone walks past, someone stands still for two minutes, the lights change, a bin is pulled
out and put back). Each clip comes with its ground truth: the person and bin boxes per frame
(what a detector would name) and the objects left (when, where).

Deterministic by seed: the same seed gives the same frames. hw never imports edge: the clips
are plain frames and dictionaries; the evaluation lives beside the detector's
(models/evaluate_composites.py).

Pictures come from `real-bags` (YOLO polygon labels, phone photos) and `truck-bags` (a fixed
CCTV camera). `held_out_pictures(root)` lists only the parts never used for training: the
`real-bags` valid/test split, and the truck frames of the 2023-12-08 20:00 recording and of
2023-12-10.
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import cv2
import numpy as np

from .cutouts import blend, letterbox, polygon_crop
from .draw import Looks, bin_patch, person_patch

W, H = 640, 480
FLOOR_TOP = 150  # composites watch the floor below this line (photos of the ground)
BIN_BOX = (40.0, 170.0, 150.0, 330.0)  # where the bin of the bin clips stands (its polygon)
KINDS = ("left_one", "left_two", "left_slow", "passer_by", "standing_2min", "lights", "bin_moved")
LEFT_KINDS = ("left_one", "left_two", "left_slow")


@dataclass
class Picture:
    path: Path
    polygons: list[np.ndarray]  # bag outlines in the picture's pixels (N x 2, float)


@dataclass
class Clip:
    name: str
    kind: str
    fps: float
    duration_s: float
    background: str  # the photo's file name
    bags: list[dict] = field(default_factory=list)  # left objects: t_down, xy (anchor), source
    _render: object = None

    def frames(self) -> Iterator[tuple[np.ndarray, float, list[dict]]]:
        """(frame BGR uint8 480x640, t, truth boxes [{cls, xyxy}]) for every frame."""
        return self._render()


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


def read_polygons(label: Path, w: int, h: int) -> list[np.ndarray]:
    out = []
    for line in label.read_text().splitlines():
        vals = line.split()
        if len(vals) < 7:
            continue
        pts = np.array([float(v) for v in vals[1:]], np.float32).reshape(-1, 2) * np.array([w, h], np.float32)
        out.append(pts)
    return out


def held_out_pictures(root: Path) -> dict[str, list[Path]]:
    """Held-out image files: {"photos": real-bags valid + test, "truck": truck frames of the
    2023-12-08 20:00 recording and of 2023-12-10, "backgrounds": those of them that fill the
    frame}; one copy per source picture (the export's augmented twins share the name before
    `.rf.`)."""
    def firsts(paths):
        # of a source picture's copies, the one least bent by the export's augmentation (flips
        # keep the frame full; shear and rotation leave flat white or black corners)
        copies: dict[str, list[Path]] = {}
        for p in sorted(paths):
            copies.setdefault(p.name.split(".rf.")[0], []).append(p)
        return [min(group, key=_fill_fraction) for _, group in sorted(copies.items())]

    photos = [p for split in ("valid", "test") for p in (root / "real-bags" / split / "images").glob("*.jpg")]
    truck = [p for p in (root / "truck-bags" / "images").glob("*.jpg")
             if "2023-12-08-20" in p.name or "2023-12-10" in p.name]
    out = {"photos": firsts(photos), "truck": firsts(truck)}
    # a background must fill the frame: copies bent by the export's shear are bag sources only
    out["backgrounds"] = [p for p in out["photos"] + out["truck"] if _fill_fraction(p) < 0.02]
    return out


def _fill_fraction(path: Path) -> float:
    img = cv2.imread(str(path), cv2.IMREAD_REDUCED_COLOR_4)
    if img is None:
        return 1.0
    img = _content(img)  # the letterbox is cut off anyway
    return float(letterbox(img, white=232).mean())


def load_picture(path: Path) -> Picture:
    img = cv2.imread(str(path))
    if img is None:
        raise ValueError(f"cannot read {path}")
    label = path.parent.parent / "labels" / (path.stem + ".txt")
    polys = read_polygons(label, img.shape[1], img.shape[0]) if label.exists() else []
    return Picture(path, polys)


def _content(img: np.ndarray) -> np.ndarray:
    """The photo without the white letterbox edges of the export."""
    dark = np.any(img < 235, axis=2)
    ys, xs = np.nonzero(dark)
    if len(ys) == 0:
        return img
    y0, y1 = int(np.percentile(ys, 0.5)), int(np.percentile(ys, 99.5)) + 1
    x0, x1 = int(np.percentile(xs, 0.5)), int(np.percentile(xs, 99.5)) + 1
    return img[y0:y1, x0:x1]


def background_from(path: Path) -> np.ndarray:
    """A real photo as a 640x480 camera view (letterbox cut off, scaled to cover)."""
    img = _content(cv2.imread(str(path)))
    h, w = img.shape[:2]
    s = max(W / w, H / h)
    img = cv2.resize(img, (max(W, round(w * s)), max(H, round(h * s))), interpolation=cv2.INTER_AREA)
    y0, x0 = (img.shape[0] - H) // 2, (img.shape[1] - W) // 2
    return img[y0:y0 + H, x0:x0 + W].copy()


def cutout(pic: Picture, index: int, width: float) -> tuple[np.ndarray, np.ndarray]:
    """Bag `index` of the picture cut along its polygon, scaled to `width` px: (rgb float, alpha)."""
    crop, mask = polygon_crop(cv2.imread(str(pic.path)), pic.polygons[index])
    crop = crop.astype(np.float32)
    s = width / max(1, crop.shape[1])
    size = (max(4, round(crop.shape[1] * s)), max(4, round(crop.shape[0] * s)))
    crop = cv2.resize(crop, size, interpolation=cv2.INTER_AREA)
    alpha = cv2.GaussianBlur(cv2.resize(mask, size, interpolation=cv2.INTER_AREA), (3, 3), 0).astype(np.float32) / 255
    return crop, alpha


@dataclass
class _Walk:
    """A person's path: (t, x, y) keyframes of the feet; present from the first to the last."""

    keys: list[tuple[float, float, float]]
    looks: Looks
    height: float

    def at(self, t: float) -> tuple[float, float, bool, float] | None:
        k = self.keys
        if t < k[0][0] or t >= k[-1][0]:
            return None
        for (t0, x0, y0), (t1, x1, y1) in zip(k, k[1:]):
            if t0 <= t < t1:
                a = (t - t0) / (t1 - t0) if t1 > t0 else 0.0
                moving = (x0, y0) != (x1, y1)
                return x0 + a * (x1 - x0), y0 + a * (y1 - y0), moving, math.copysign(1.0, x1 - x0) if x1 != x0 else 0.0
        return None


def build_clip(kind: str, seed: int, pictures: dict[str, list[Path]], fps: float = 5.0,
               incident_after_s: float = 30.0) -> Clip:
    """One composite clip of `kind` (KINDS), deterministic by seed."""
    if kind not in KINDS:
        raise ValueError(f"unknown composite kind {kind!r} (known: {', '.join(KINDS)})")
    rng = _rng("composite", kind, seed)
    pool = pictures["photos"] + pictures["truck"]
    backgrounds = pictures.get("backgrounds") or pool
    bg_path = backgrounds[int(rng.integers(len(backgrounds)))]
    base = background_from(bg_path).astype(np.float32)
    with_bags = [load_picture(p) for p in pool]
    with_bags = [p for p in with_bags if p.polygons]
    looks = Looks.random(rng)
    side = 1 if rng.random() < 0.5 else -1
    start_x = W + 60 if side > 0 else -60
    duration = incident_after_s + 40.0
    walks: list[_Walk] = []
    bags: list[dict] = []  # t_carry_from, t_down, xy, rgb, alpha, carrier
    bin_keys: list[tuple[float, float, float]] = []
    gain_keys = [(0.0, 1.0)]
    t_in = float(rng.uniform(2, 6))
    height = float(rng.uniform(260, 330))

    def person_path(stops):
        keys = [(t_in, start_x, stops[0][1])]
        t = t_in
        x, y = start_x, stops[0][1]
        for (sx, sy, stay) in stops:
            t += math.hypot(sx - x, sy - y) / 110.0
            keys.append((t, sx, sy))
            t += stay
            keys.append((t, sx, sy))
            x, y = sx, sy
        t += abs(start_x - x) / 110.0
        keys.append((t, start_x, y))
        return keys

    if kind in LEFT_KINDS:
        n = 2 if kind == "left_two" else 1
        x = float(rng.uniform(170, 470))
        y = float(rng.uniform(330, 450))
        stay = float(rng.uniform(1.0, 2.0)) if kind != "left_slow" else float(rng.uniform(6.0, 10.0))
        keys = person_path([(x + 50 * side, y, stay)])
        walks.append(_Walk(keys, looks, height))
        # put down just before walking off; left_slow: at once, then the person stands by it
        t_down = keys[2][0] - 0.5 if kind != "left_slow" else keys[1][0] + 0.5
        for i in range(n):
            pic = with_bags[int(rng.integers(len(with_bags)))]
            idx = int(rng.integers(len(pic.polygons)))
            width = float(rng.uniform(55, 110)) * (0.6 + 0.4 * (y - 300) / 180)
            rgb, alpha = cutout(pic, idx, width)
            bx = x - 40 * side * i - 20 * side
            bags.append({"t_from": t_in, "t_down": t_down, "xy": (bx, y + 10 * i), "rgb": rgb, "alpha": alpha,
                         "source": f"{pic.path.name}#{idx}"})
        duration = t_down + incident_after_s + 12.0
    elif kind == "passer_by":
        y = float(rng.uniform(330, 450))
        walks.append(_Walk([(t_in, start_x, y), (t_in + (W + 120) / 110.0, -start_x + W, y)], looks, height))
        duration = 40.0
    elif kind == "standing_2min":
        x, y = float(rng.uniform(200, 440)), float(rng.uniform(330, 450))
        walks.append(_Walk(person_path([(x, y, 120.0)]), looks, height))
        duration = walks[0].keys[-1][0] + 10.0
    elif kind == "lights":
        t = float(rng.uniform(10, 20))
        level = float(rng.choice([0.45, 0.6, 1.5]))
        gain_keys = [(0.0, 1.0), (t, 1.0), (t + float(rng.uniform(0.2, 3.0)), level)]
        if rng.random() < 0.5:  # and back on later
            gain_keys += [(t + 30, level), (t + 31, 1.0)]
        duration = incident_after_s + 40.0
    elif kind == "bin_moved":
        out_by = (float(rng.uniform(20, 80)), float(rng.uniform(90, 130)))
        t_out = t_in + 4.0
        t_back = t_out + incident_after_s + float(rng.uniform(10, 30))
        bin_keys = [(0.0, 0.0, 0.0), (t_out, 0.0, 0.0), (t_out + 3, *out_by), (t_back, *out_by), (t_back + 3, 0.0, 0.0)]
        cx, cy = BIN_BOX[0] + 55 + out_by[0], BIN_BOX[3] + out_by[1] + 20
        keys = [(t_in, start_x, cy), (t_out, cx + 60, cy), (t_out + 6, cx + 60, cy), (t_out + 11, start_x, cy),
                (t_back - 5, start_x, cy), (t_back, cx + 60, cy), (t_back + 5, cx + 60, cy), (t_back + 10, start_x, cy)]
        walks.append(_Walk(keys, looks, height))
        duration = t_back + 25.0
    # the camera: auto-exposure jump, slow drift, noise, jitter, JPEG
    jump_t = float(rng.uniform(5, duration - 5))
    jump = float(rng.choice([0.75, 1.3]))
    drift_period, drift_phase = float(rng.uniform(30, 60)), float(rng.uniform(0, 6.3))
    noise_sigma = float(rng.uniform(2.0, 4.0))
    jpeg_q = int(rng.integers(55, 80))
    bin_rgb = bin_a = None
    if bin_keys:
        bin_rgb, bin_a, _ = bin_patch("dry", BIN_BOX[2] - BIN_BOX[0], BIN_BOX[3] - BIN_BOX[1], _rng("bin", seed))
    name = f"{kind}-s{seed}"
    clip = Clip(name, kind, fps, duration, bg_path.name,
                [{"t_down": round(b["t_down"], 2), "xy": [round(b["xy"][0], 1), round(b["xy"][1], 1)],
                  "source": b["source"]} for b in bags])

    def gain(t: float) -> float:
        g = float(np.interp(t, [k[0] for k in gain_keys], [k[1] for k in gain_keys]))
        g *= 1.0 + 0.06 * math.sin(2 * math.pi * t / drift_period + drift_phase)
        return g * (jump if t >= jump_t else 1.0)

    def render():
        noise_rng = _rng("noise", kind, seed)
        bank = [noise_rng.normal(0, 1, (H + 32, W, 1)).astype(np.float32) for _ in range(4)]
        n = int(round(duration * fps))
        for i in range(n):
            t = i / fps
            img = base.copy()
            truth: list[dict] = []
            if bin_keys:
                dx = float(np.interp(t, [k[0] for k in bin_keys], [k[1] for k in bin_keys]))
                dy = float(np.interp(t, [k[0] for k in bin_keys], [k[2] for k in bin_keys]))
                box = blend(img, bin_rgb, bin_a, int(round(BIN_BOX[0] + dx)), int(round(BIN_BOX[1] + dy)))
                if box:
                    truth.append({"cls": "bin", "xyxy": box})
            for b in bags:  # left on the floor, drawn before the people (they walk in front)
                if t >= b["t_down"]:
                    a = b["alpha"]
                    blend(img, b["rgb"], a, int(round(b["xy"][0] - a.shape[1] / 2)), int(round(b["xy"][1] - a.shape[0])))
            for w in walks:
                at = w.at(t)
                if at is None:
                    continue
                x, y, moving, facing = at
                s = 0.55 + 0.45 * (y - 300) / 180
                rgb, a, feet, hand = person_patch(w.height * s, w.looks, t * 7.0 if moving else 0.0, moving,
                                                  facing if moving else 0.0, any(b["t_from"] <= t < b["t_down"] for b in bags))
                x0, y0 = int(round(x - feet[0])), int(round(y - feet[1]))
                box = blend(img, rgb, a, x0, y0)
                for b in bags:  # carried: hanging from the hand
                    if b["t_from"] <= t < b["t_down"]:
                        ba = b["alpha"]
                        blend(img, b["rgb"], ba * 1.0, int(round(x0 + hand[0] - ba.shape[1] / 2)), int(round(y0 + hand[1])))
                if box:
                    truth.append({"cls": "person", "xyxy": box})
            img *= gain(t)
            k, off = i % len(bank), (i * 7) % 32
            img += bank[k][off:off + H] * noise_sigma
            # the mount shakes a little: a sub-pixel shift
            dx, dy = 0.6 * math.sin(t * 2.1 + seed), 0.6 * math.sin(t * 1.3 + 2 * seed)
            m = np.float32([[1, 0, dx], [0, 1, dy]])
            img = cv2.warpAffine(img, m, (W, H), borderMode=cv2.BORDER_REFLECT)
            frame = np.clip(img, 0, 255).astype(np.uint8)
            ok, buf = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, jpeg_q])
            yield cv2.imdecode(buf, cv2.IMREAD_COLOR), t, truth

    clip._render = render
    return clip


def zones_for(kind: str) -> dict:
    """The zones the composites are watched with: the floor below FLOOR_TOP; the bin of the
    bin clips has its polygon where it stands."""
    floor = [[0, FLOOR_TOP], [W, FLOOR_TOP], [W, H], [0, H]]
    x1, y1, x2, y2 = BIN_BOX
    bins = [{"id": "bin-1", "polygon": [[x1, y1], [x2, y1], [x2, y2], [x1, y2]]}] if kind == "bin_moved" else []
    return {"floor": floor, "bins": bins}
