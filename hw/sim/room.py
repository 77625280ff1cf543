"""The simulated garbage room: a camera view rendered from a scenario (or at random, for training).

`SimRoom(scenario).render(t)` gives the BGR frame at t seconds and the ground-truth boxes of
what is visible. The picture is deterministic for (scenario, size, seed, t): the seed picks
bag shapes, clothes and sensor noise; the room's layout is fixed (it matches the zones of
the shipped default config). `random_scene(seed)` draws a randomized room for training
(layout, colours, textures, camera angle, light, blur, JPEG artefacts).
"""
from __future__ import annotations

import math
import zlib
from dataclasses import dataclass, field

import cv2
import numpy as np

from .draw import Looks, bag_patch, bin_patch, person_patch
from .scenario import BASE_H, BASE_W, INTO_BIN_S, BAG_KINDS, BIN_KINDS, UNKNOWN_KINDS, Scenario, load_scenario

CLASSES = ("garbage_bag", "bin", "person")
_MIN_VISIBLE = 0.3  # a thing less visible than this (occluded, off-frame) gets no truth box


@dataclass
class TruthBox:
    cls: str
    xyxy: tuple[float, float, float, float]
    track_id: int


@dataclass
class Style:
    """The room's look: walls, floor, light, camera."""

    wall: tuple[float, float, float] = (200.0, 205.0, 208.0)
    wall_tile: tuple[float, float, float] = (215.0, 220.0, 222.0)
    wall_tile_h: float = 0.45  # share of the wall (from the floor up) that is tiled
    tile_px: float = 38.0
    floor: tuple[float, float, float] = (120.0, 128.0, 132.0)
    floor_tile_px: float = 70.0
    grout: float = 0.82
    floor_noise: float = 0.06
    wall_y: float = 235.0  # where wall meets floor, in default-layout pixels
    horizon: float = 20.0  # vanishing line: sets how things shrink with distance
    light_xy: tuple[float, float] = (0.5, 0.1)
    light_falloff: float = 0.35
    tint: tuple[float, float, float] = (1.0, 1.0, 1.0)
    noise: float = 2.5
    jitter_px: float = 0.8
    posters: int = 1
    seed: int = 7


@dataclass
class _Thing:
    kind: str  # bag | bin | person
    cls: str
    track_id: int
    foot: tuple[float, float]  # bottom-centre (default-layout px): depth order
    params: dict = field(default_factory=dict)


def _rng(*parts) -> np.random.Generator:
    return np.random.default_rng(zlib.crc32(repr(parts).encode()))


class _Canvas:
    def __init__(self, img: np.ndarray):
        self.img = img
        self.ids = np.zeros(img.shape[:2], np.int32)
        self.full: dict[int, tuple[int, str, int]] = {}  # paint id -> (full area, cls, track)
        self.region: dict[int, tuple[int, int, int, int]] = {}  # paint id -> where it was pasted

    def paste(self, rgb: np.ndarray, alpha: np.ndarray, x0: int, y0: int, cls: str | None, track: int) -> None:
        H, W = self.img.shape[:2]
        h, w = alpha.shape
        xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + w), min(H, y0 + h)
        if cls is not None:
            pid = len(self.full) + 1
            self.full[pid] = (int((alpha > 0.5).sum()), cls, track)
        if xa >= xb or ya >= yb:
            return
        if cls is not None:
            self.region[pid] = (xa, ya, xb, yb)
        a = alpha[ya - y0:yb - y0, xa - x0:xb - x0, None]
        region = self.img[ya:yb, xa:xb]
        region *= 1 - a
        region += a * rgb[ya - y0:yb - y0, xa - x0:xb - x0]
        if cls is not None:
            sub = self.ids[ya:yb, xa:xb]
            sub[a[..., 0] > 0.5] = pid

    def truth(self) -> list[TruthBox]:
        out: list[TruthBox] = []
        if not self.full:
            return out
        counts = np.bincount(self.ids.ravel(), minlength=len(self.full) + 1)
        for pid, (area, cls, track) in self.full.items():
            vis = counts[pid]
            if area <= 0 or vis < max(12, _MIN_VISIBLE * area):
                continue
            xa, ya, xb, yb = self.region[pid]
            ys, xs = np.nonzero(self.ids[ya:yb, xa:xb] == pid)
            out.append(TruthBox(cls, (float(xs.min() + xa), float(ys.min() + ya), float(xs.max() + 1 + xa),
                                      float(ys.max() + 1 + ya)), track))
        return out


class Painter:
    """Renders a list of things over a room background with a style, at a frame size."""

    def __init__(self, style: Style, size: tuple[int, int]):
        self.style = style
        self.W, self.H = size
        self.sx, self.sy = self.W / BASE_W, self.H / BASE_H
        self._bg: np.ndarray | None = None
        self._light: np.ndarray | None = None
        self._patch_cache: dict = {}
        self._light3: np.ndarray | None = None
        self._static: dict = {}
        self._noise_bank: list[np.ndarray] = []

    # geometry -----------------------------------------------------------------------------
    def depth_scale(self, y: float) -> float:
        """Size factor of a thing standing at default-layout y (1.0 at the bins' foot line)."""
        st = self.style
        return max(0.15, (y - st.horizon) / (330.0 - st.horizon))

    def px(self, x: float, y: float) -> tuple[float, float]:
        return x * self.sx, y * self.sy

    # background ---------------------------------------------------------------------------
    def background(self) -> np.ndarray:
        if self._bg is None:
            self._bg, self._light = self._build_background()
        return self._bg

    def _build_background(self) -> tuple[np.ndarray, np.ndarray]:
        st, W, H = self.style, self.W, self.H
        rng = _rng("bg", st.seed)
        img = np.zeros((H, W, 3), np.float32)
        wy = int(round(st.wall_y * self.sy))
        yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
        # wall: paint above, tiles below
        img[:wy] = st.wall
        tile_top = int(wy - st.wall_tile_h * wy)
        t = st.tile_px * self.sx
        tiles = ((xx % t) < max(1, t * 0.05)) | (((yy - wy) % t) < max(1, t * 0.05))
        wall_tiles = np.where(tiles[..., None], np.array(st.wall_tile) * st.grout, np.array(st.wall_tile))
        img[tile_top:wy] = wall_tiles[tile_top:wy]
        img[:wy] *= (1 + _field(rng, wy, W, 12, 0.03))[..., None]
        for _ in range(st.posters):  # notices on the wall (分类指南)
            pw, ph = rng.uniform(40, 110) * self.sx, rng.uniform(30, 80) * self.sy
            px0, py0 = rng.uniform(0, W - pw), rng.uniform(5, max(6, tile_top - ph - 5))
            col = rng.uniform(60, 250, 3)
            cv2.rectangle(img, (int(px0), int(py0)), (int(px0 + pw), int(py0 + ph)), tuple(float(c) for c in col), -1)
            for k in range(int(rng.integers(1, 4))):
                ly = int(py0 + ph * (0.25 + 0.2 * k))
                cv2.line(img, (int(px0 + pw * 0.1), ly), (int(px0 + pw * 0.9), ly), tuple(float(c) * 0.4 for c in col), max(1, int(2 * self.sy)))
        # floor: tiles warped in perspective towards the vanishing point
        fh = H - wy
        if fh > 0:
            tw = int(W * 3)
            th = max(8, int(fh * 3))
            tex = np.empty((th, tw, 3), np.float32)
            tex[:] = st.floor
            ft = st.floor_tile_px * self.sx
            ty, tx = np.mgrid[0:th, 0:tw].astype(np.float32)
            grout = ((tx % ft) < max(1, ft * 0.04)) | ((ty % ft) < max(1, ft * 0.04))
            tex[grout] *= st.grout
            tex *= (1 + _field(rng, th, tw, 20, st.floor_noise))[..., None]
            vx, vy = W / 2, st.horizon * self.sy
            far_half = W * 1.5
            near_half = far_half * (H - vy) / max(1.0, wy - vy)
            src = np.float32([[0, 0], [tw, 0], [tw, th], [0, th]])
            dst = np.float32([[vx - far_half, wy], [vx + far_half, wy], [vx + near_half, H], [vx - near_half, H]])
            M = cv2.getPerspectiveTransform(src, dst)
            warped = cv2.warpPerspective(tex, M, (W, H), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE)
            img[wy:] = warped[wy:]
            # skirting line where wall meets floor
            cv2.line(img, (0, wy), (W, wy), tuple(float(c) * 0.6 for c in st.wall), max(1, int(3 * self.sy)))
        # ceiling light: bright spot fading out
        lx, ly = st.light_xy[0] * W, st.light_xy[1] * H
        d = np.sqrt((xx - lx) ** 2 + (yy - ly) ** 2) / math.hypot(W, H)
        light = (1.15 - st.light_falloff * d * 1.6).astype(np.float32)
        return img, light

    # things -------------------------------------------------------------------------------
    def _paint(self, canvas: _Canvas, th: _Thing, seed: int) -> tuple[float, float] | None:
        p = th.params
        fx, fy = self.px(*th.foot)
        if th.kind == "bin":
            x1, y1, x2, y2 = p["box"]
            key = ("bin", th.track_id, p["kind"], p.get("lid_open", False), self.W, self.H)
            if key not in self._patch_cache:
                self._patch_cache[key] = bin_patch(p["kind"], (x2 - x1) * self.sx, (y2 - y1) * self.sy,
                                                   _rng("bin", seed, th.track_id), lid_open=p.get("lid_open", False),
                                                   color_jitter=p.get("jitter", 0.08))
            rgb, a, extra = self._patch_cache[key]
            canvas.paste(rgb, a, int(round(x1 * self.sx)), int(round(y1 * self.sy)) - extra, "bin", th.track_id)
            return None
        if th.kind == "bag":
            s = self.depth_scale(th.foot[1]) * p.get("size", 1.0)
            w, h = 58 * s * self.sx * p.get("aspect", 1.0), 60 * s * self.sy / p.get("aspect", 1.0) ** 0.3
            w *= p.get("shrink", 1.0)
            h *= p.get("shrink", 1.0)
            key = ("bag", th.track_id, p["kind"], int(w), int(h), seed)
            if key not in self._patch_cache:
                if len(self._patch_cache) > 256:
                    self._patch_cache.clear()
                self._patch_cache[key] = bag_patch(p["kind"], w, h, _rng("bag", seed, th.track_id, p["kind"]),
                                                   color_jitter=p.get("jitter", 0.15))
            rgb, a = self._patch_cache[key]
            bx, by = p.get("anchor_px", (fx, fy))
            top_anchor = p.get("hanging", False)
            x0 = int(round(bx - a.shape[1] / 2))
            y0 = int(round(by if top_anchor else by - a.shape[0]))
            # what no class names (a carton, a chair) gets no truth box: the detector cannot know it
            cls = None if p["kind"] in UNKNOWN_KINDS else "garbage_bag"
            canvas.paste(rgb, a, x0, y0, cls, th.track_id)
            return None
        if th.kind == "person":
            s = self.depth_scale(th.foot[1]) * p.get("size", 1.0)
            height = 250 * s * self.sy
            looks = p.get("looks") or Looks.random(_rng("looks", seed, th.track_id))
            rgb, a, feet, hand = person_patch(height, looks, p.get("phase", 0.0), p.get("walking", False),
                                              p.get("facing", 0.0), p.get("carrying") is not None)
            x0 = int(round(fx - feet[0]))
            y0 = int(round(fy - feet[1]))
            canvas.paste(rgb, a, x0, y0, "person", th.track_id)
            return (x0 + hand[0], y0 + hand[1])
        return None

    def _shadow_patch(self, rx: int, ry: int) -> np.ndarray:
        key = ("shadow", rx, ry)
        if key not in self._patch_cache:
            pad = max(2, int(8 * self.sx))
            p = np.zeros((2 * (ry + pad) + 1, 2 * (rx + pad) + 1), np.float32)
            cv2.ellipse(p, (rx + pad, ry + pad), (rx, ry), 0, 0, 360, 1.0, -1)
            p = cv2.GaussianBlur(p, (0, 0), max(1.0, 4 * self.sx))
            self._patch_cache[key] = (1 - 0.45 * p)[..., None]
        return self._patch_cache[key]

    def shadows(self, img: np.ndarray, things: list[_Thing]) -> None:
        H, W = img.shape[:2]
        for th in things:
            if th.kind == "bag" and th.params.get("hanging"):
                continue
            fx, fy = self.px(*th.foot)
            s = self.depth_scale(th.foot[1])
            rx = {"bin": 70, "bag": 34, "person": 30}[th.kind] * s * self.sx * th.params.get("size", 1.0)
            patch = self._shadow_patch(max(1, int(rx)), max(1, int(rx * 0.22)))
            ph, pw = patch.shape[:2]
            x0, y0 = int(fx) - pw // 2, int(fy) - ph // 2
            xa, ya, xb, yb = max(0, x0), max(0, y0), min(W, x0 + pw), min(H, y0 + ph)
            if xa < xb and ya < yb:
                img[ya:yb, xa:xb] *= patch[ya - y0:yb - y0, xa - x0:xb - x0]

    def compose(self, things: list[_Thing], seed: int) -> _Canvas:
        bins = [t for t in things if t.kind == "bin"]
        rest = [t for t in things if t.kind != "bin"]
        last_bin = max((t.foot[1] for t in bins), default=-1e9)
        if bins and all(t.foot[1] >= last_bin for t in rest):
            # nothing stands behind a bin: start from a cached picture of the room with its bins
            key = ("static", seed, tuple((t.track_id, bool(t.params.get("lid_open")), t.params["box"]) for t in bins))
            if key not in self._static:
                if len(self._static) > 16:
                    self._static.clear()
                base = self._compose(bins, seed, self.background().copy())
                self._static[key] = base
            base = self._static[key]
            canvas = _Canvas(base.img.copy())
            canvas.ids[:] = base.ids
            canvas.full, canvas.region = dict(base.full), dict(base.region)
            self.shadows(canvas.img, rest)
            return self._paint_all(canvas, rest, seed)
        return self._compose(things, seed, self.background().copy())

    def _compose(self, things: list[_Thing], seed: int, img: np.ndarray) -> _Canvas:
        self.shadows(img, things)
        return self._paint_all(_Canvas(img), things, seed)

    def _paint_all(self, canvas: _Canvas, things: list[_Thing], seed: int) -> _Canvas:
        # painter's order: far things first; a carried bag right after its carrier
        for th in sorted(things, key=lambda k: (k.foot[1], k.kind == "bag")):
            hand = self._paint(canvas, th, seed)
            bag = th.params.get("carrying")
            if hand is not None and bag is not None:
                bag.params["anchor_px"] = (hand[0], hand[1] - 2)
                bag.params["hanging"] = True
                bag.foot = th.foot
                self._paint(canvas, bag, seed)
        return canvas

    def finish(self, canvas: _Canvas, gain: float, rng: np.random.Generator, t: float) -> tuple[np.ndarray, list[TruthBox]]:
        st = self.style
        self.background()
        if self._light3 is None:
            self._light3 = np.ascontiguousarray(self._light[..., None] * np.array(st.tint, np.float32))
            bank_rng = _rng("noisebank", st.seed, self.W, self.H)
            self._noise_bank = [bank_rng.normal(0, 1, (self.H + 64, self.W, 3)).astype(np.float32) for _ in range(4)]
        img = cv2.multiply(canvas.img, self._light3, scale=float(gain))
        # sensor noise grows as the light falls (the camera's gain goes up); a few precomputed
        # fields, picked and mirrored per frame, are far cheaper than fresh noise every frame
        sigma = st.noise * (1 + 1.5 * max(0.0, 1 - gain) / max(gain, 0.1))
        k, off = int(rng.integers(0, len(self._noise_bank))), int(rng.integers(0, 64))
        noise = self._noise_bank[k][off:off + self.H]  # a row offset: contiguous, no copy
        img = cv2.scaleAdd(noise, float(sigma), img)
        np.clip(img, 0, 255, out=img)
        frame = img.astype(np.uint8)
        truth = canvas.truth()
        # camera jitter: the mount shakes a pixel or so
        dx = int(round(st.jitter_px * math.sin(t * 2.3 + st.seed)))
        dy = int(round(st.jitter_px * math.sin(t * 1.7 + 2 * st.seed)))
        if dx or dy:
            frame = _shift(frame, dx, dy)
            truth = [TruthBox(b.cls, _clip_box((b.xyxy[0] + dx, b.xyxy[1] + dy, b.xyxy[2] + dx, b.xyxy[3] + dy), self.W, self.H), b.track_id)
                     for b in truth]
            truth = [b for b in truth if b.xyxy[2] - b.xyxy[0] > 1 and b.xyxy[3] - b.xyxy[1] > 1]
        return frame, truth


def _field(rng: np.random.Generator, h: int, w: int, scale: float, amp: float) -> np.ndarray:
    small = rng.normal(0, 1, (max(2, int(h / scale)), max(2, int(w / scale)))).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def _shift(frame: np.ndarray, dx: int, dy: int) -> np.ndarray:
    """Whole-pixel shift with the edge rows/columns repeated."""
    H, W = frame.shape[:2]
    m = max(abs(dx), abs(dy))
    padded = cv2.copyMakeBorder(frame, m, m, m, m, cv2.BORDER_REPLICATE)
    return np.ascontiguousarray(padded[m - dy:m - dy + H, m - dx:m - dx + W])


def _clip_box(b, W, H):
    return (max(0.0, min(W, b[0])), max(0.0, min(H, b[1])), max(0.0, min(W, b[2])), max(0.0, min(H, b[3])))


_UNKNOWN_SIZE = {"carton": {"size": 1.5, "aspect": 1.7}, "chair": {"size": 1.7, "aspect": 1.0}}


class SimRoom:
    """The default garbage room playing a scenario."""

    def __init__(self, scenario: Scenario | str, size: tuple[int, int] = (640, 480), seed: int = 0):
        self.scenario = scenario if isinstance(scenario, Scenario) else load_scenario(scenario)
        self.size = (int(size[0]), int(size[1]))
        self.seed = int(seed)
        self.duration_s = float(self.scenario.duration_s)
        self.painter = Painter(Style(), self.size)
        self._looks = {aid: Looks.random(_rng("looks", seed, aid)) for aid in self.scenario.actors}
        self._track = {}
        for i, b in enumerate(self.scenario.bins):
            self._track[("bin", b["id"])] = i + 1
        for i, aid in enumerate(sorted(self.scenario.actors)):
            self._track[("person", aid)] = 100 + i
        for i, bid in enumerate(sorted(self.scenario.bags)):
            self._track[("bag", bid)] = 200 + i

    def bin_polygons(self) -> dict[str, list[tuple[float, float]]]:
        sx, sy = self.size[0] / BASE_W, self.size[1] / BASE_H
        return {bid: [(x * sx, y * sy) for x, y in poly] for bid, poly in self.scenario.bin_polygons().items()}

    def floor_polygon(self) -> list[tuple[float, float]]:
        sx, sy = self.size[0] / BASE_W, self.size[1] / BASE_H
        return [(x * sx, y * sy) for x, y in self.scenario.floor]

    def things(self, t: float) -> list[_Thing]:
        sc = self.scenario
        out: list[_Thing] = []
        for b in sc.bins:
            lid = any(t0 - 0.3 <= t < t0 + 2.0 for t0 in sc.lid_open.get(b["id"], []))
            dx, dy = sc.bin_offset(b["id"], t)
            x1, y1, x2, y2 = b["box"]
            x1, y1, x2, y2 = x1 + dx, y1 + dy, x2 + dx, y2 + dy
            out.append(_Thing("bin", "bin", self._track[("bin", b["id"])], ((x1 + x2) / 2, y2),
                              {"kind": b["kind"], "box": (x1, y1, x2, y2), "lid_open": lid}))
        people: dict[str, _Thing] = {}
        for aid, actor in sc.actors.items():
            if not actor.present(t):
                continue
            walking, direction = actor.walking(t)
            pos = actor.position(t)
            # walk phase from the distance covered, so legs match the pace
            phase = (t * 7.0) if walking else 0.0
            th = _Thing("person", "person", self._track[("person", aid)], pos,
                        {"looks": self._looks[aid], "phase": phase, "walking": walking,
                         "facing": direction if walking else 0.0, "carrying": None})
            people[aid] = th
            out.append(th)
        for bid, bag in sc.bags.items():
            state, data, t0 = bag.state(t)
            track = self._track[("bag", bid)]
            if state == "floor":
                out.append(_Thing("bag", "garbage_bag", track, data, {"kind": bag.kind, **_UNKNOWN_SIZE.get(bag.kind, {})}))
            elif state == "carried" and data in people:
                people[data].params["carrying"] = _Thing("bag", "garbage_bag", track, people[data].foot,
                                                         {"kind": bag.kind, "size": 0.8})
            elif state == "into_bin":
                bin_id, aid = data
                box = next(b["box"] for b in sc.bins if b["id"] == bin_id)
                a = min(1.0, (t - t0) / INTO_BIN_S)
                start = sc.actors[aid].position(t0)
                end = ((box[0] + box[2]) / 2, box[1] + 10)
                pos = (start[0] + a * (end[0] - start[0]), start[1] - 60 * a + a * (end[1] - start[1]) * 0.2)
                if a < 0.95:
                    ax, ay = self.painter.px(start[0] + a * (end[0] - start[0]), (start[1] - 75) * (1 - a) + end[1] * a)
                    out.append(_Thing("bag", "garbage_bag", track, (pos[0], max(pos[1], box[3] + 1)),
                                      {"kind": bag.kind, "size": 0.8, "anchor_px": (ax, ay), "shrink": 1 - 0.5 * a}))
        return out

    def render(self, t: float) -> tuple[np.ndarray, list[TruthBox]]:
        """The frame at t seconds (BGR uint8 HxWx3) and the boxes of what is visible in it."""
        canvas = self.painter.compose(self.things(t), self.seed)
        rng = _rng("noise", self.seed, int(round(t * 1000)))
        return self.painter.finish(canvas, self.scenario.light(t), rng, t)


# ---------------------------------------------------------------------------------------
# domain-randomized scenes for training


def random_style(rng: np.random.Generator) -> Style:
    def col(lo, hi):
        return tuple(float(v) for v in rng.uniform(lo, hi, 3))

    gray = rng.random() < 0.5
    floor = col(40, 200)
    if gray:
        v = float(rng.uniform(50, 190))
        floor = (v, v * rng.uniform(0.95, 1.05), v * rng.uniform(0.95, 1.05))
    warm = rng.uniform(-0.12, 0.12)
    return Style(
        wall=col(100, 245), wall_tile=col(120, 250), wall_tile_h=float(rng.uniform(0, 0.9)),
        tile_px=float(rng.uniform(15, 70)), floor=floor, floor_tile_px=float(rng.uniform(25, 160)),
        grout=float(rng.uniform(0.6, 1.0)), floor_noise=float(rng.uniform(0.02, 0.2)),
        wall_y=float(rng.uniform(150, 290)), horizon=float(rng.uniform(-150, 120)),
        light_xy=(float(rng.uniform(0, 1)), float(rng.uniform(-0.2, 0.6))), light_falloff=float(rng.uniform(0.0, 0.7)),
        tint=(1 + warm * -1, 1.0, 1 + warm), noise=float(rng.uniform(0.5, 6)), jitter_px=0.0,
        posters=int(rng.integers(0, 4)), seed=int(rng.integers(0, 2**31)),
    )


def random_scene(seed: int, size: tuple[int, int] = (640, 480), default_layout: bool = False) -> tuple[np.ndarray, list[TruthBox]]:
    """A randomized room for training: random look, bins, bags, people, light and camera.

    With default_layout the room is the fixed one of the bundled scenarios (only bags,
    people and light vary), so the model also sees the exact view the demo shows.
    """
    rng = np.random.default_rng(zlib.crc32(f"scene-{seed}".encode()))
    style = Style(seed=int(rng.integers(0, 2**31)), jitter_px=0.0) if default_layout else random_style(rng)
    W, H = size
    painter = Painter(style, size)
    things: list[_Thing] = []
    track = 1
    occupied: list[tuple[float, float, float]] = []
    floor_top = style.wall_y + 8
    if default_layout:
        from .scenario import DEFAULT_BINS

        bins = [dict(b) for b in DEFAULT_BINS]
    else:
        bins = []
        nb = int(rng.integers(0, 5))
        x = rng.uniform(-40, 120)
        for _ in range(nb):
            y2 = rng.uniform(floor_top + 10, min(470, floor_top + 150))
            s = painter.depth_scale(y2) * rng.uniform(0.8, 1.3)
            bw, bh = 120 * s * rng.uniform(0.8, 1.2), 160 * s * rng.uniform(0.85, 1.2)
            bins.append({"id": f"b{track}", "kind": str(rng.choice(BIN_KINDS)), "box": (x, y2 - bh, x + bw, y2)})
            x += bw + rng.uniform(5, 60)
            if x > BASE_W:
                break
    for b in bins:
        x1, y1, x2, y2 = b["box"]
        things.append(_Thing("bin", "bin", track, ((x1 + x2) / 2, y2),
                             {"kind": b["kind"], "box": b["box"], "lid_open": bool(rng.random() < 0.15), "jitter": 0.25}))
        occupied.append(((x1 + x2) / 2, y2, (x2 - x1) / 2))
        track += 1
    # bags: on the floor, some in a pile, some beside bins; sizes vary widely (close-ups too)
    nbags = int(rng.choice([0, 1, 1, 2, 2, 3, 3, 4, 5, 6, 8]))
    for i in range(nbags):
        if occupied and rng.random() < 0.3:
            cx, cy, r = occupied[int(rng.integers(len(occupied)))]
            x, y = cx + rng.uniform(-2.5, 2.5) * max(r, 30), cy + rng.uniform(0, 50)
        else:
            x, y = rng.uniform(-20, BASE_W + 20), rng.uniform(floor_top + 20, BASE_H + 30)
        kind = str(rng.choice(BAG_KINDS, p=_BAG_P))
        size = float(rng.uniform(0.7, 1.4) * (rng.uniform(1.3, 3.0) if rng.random() < 0.15 else 1.0))
        things.append(_Thing("bag", "garbage_bag", track, (float(x), float(y)),
                             {"kind": kind, "size": size, "aspect": float(rng.uniform(0.75, 1.35)), "jitter": 0.3}))
        occupied.append((x, y, 30))
        track += 1
    npeople = int(rng.choice([0, 0, 1, 1, 1, 2, 3]))
    for _ in range(npeople):
        x, y = rng.uniform(-30, BASE_W + 30), rng.uniform(floor_top + 40, BASE_H + 80)
        walking = bool(rng.random() < 0.7)
        carry = None
        if rng.random() < 0.45:
            carry = _Thing("bag", "garbage_bag", track + 1000, (x, y),
                           {"kind": str(rng.choice(BAG_KINDS, p=_BAG_P)), "size": float(rng.uniform(0.6, 1.0)), "jitter": 0.3})
        things.append(_Thing("person", "person", track, (float(x), float(y)),
                             {"looks": Looks.random(rng), "phase": float(rng.uniform(0, 6.3)), "walking": walking,
                              "facing": float(rng.choice([-1.0, 1.0, 0.0])) if walking else float(rng.choice([0.0, -1.0, 1.0])),
                              "carrying": carry, "size": float(rng.uniform(0.85, 1.15))}))
        track += 1
    canvas = painter.compose(things, int(rng.integers(0, 2**31)))
    gain = float(rng.choice([rng.uniform(0.25, 0.6), rng.uniform(0.6, 1.4)], p=[0.2, 0.8]))
    frame, truth = painter.finish(canvas, gain, rng, 0.0)
    if not default_layout:
        frame, truth = _camera_warp(frame, truth, rng)
    frame = _degrade(frame, rng)
    return frame, truth


_BAG_P = np.array([0.30, 0.14, 0.06, 0.05, 0.05, 0.07, 0.05, 0.05, 0.06, 0.08, 0.09])
_BAG_P = _BAG_P / _BAG_P.sum()


def _camera_warp(frame: np.ndarray, truth: list[TruthBox], rng: np.random.Generator):
    """A different camera angle: random homography; boxes follow their corners."""
    H, W = frame.shape[:2]
    j = rng.uniform(0.0, 0.12)
    src = np.float32([[0, 0], [W, 0], [W, H], [0, H]])
    dst = src + rng.uniform(-j, j, (4, 2)).astype(np.float32) * np.float32([W, H])
    M = cv2.getPerspectiveTransform(src, dst)
    out = cv2.warpPerspective(frame, M, (W, H), borderMode=cv2.BORDER_REFLECT)
    boxes = []
    for b in truth:
        x1, y1, x2, y2 = b.xyxy
        pts = cv2.perspectiveTransform(np.float32([[[x1, y1], [x2, y1], [x2, y2], [x1, y2]]]), M)[0]
        nb = _clip_box((pts[:, 0].min(), pts[:, 1].min(), pts[:, 0].max(), pts[:, 1].max()), W, H)
        if (nb[2] - nb[0]) * (nb[3] - nb[1]) > 0.4 * (x2 - x1) * (y2 - y1) * 0.5 and nb[2] - nb[0] > 3 and nb[3] - nb[1] > 3:
            boxes.append(TruthBox(b.cls, tuple(float(v) for v in nb), b.track_id))
    return out, boxes


def _degrade(frame: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """Blur, colour cast and JPEG artefacts of cheap cameras."""
    if rng.random() < 0.35:
        k = int(rng.choice([3, 5]))
        frame = cv2.GaussianBlur(frame, (k, k), 0)
    if rng.random() < 0.15:  # motion blur
        k = int(rng.integers(3, 9))
        kern = np.zeros((k, k), np.float32)
        kern[k // 2, :] = 1.0 / k
        frame = cv2.filter2D(frame, -1, kern)
    if rng.random() < 0.1:  # night IR mode: grey picture
        g = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
        frame = cv2.cvtColor(g, cv2.COLOR_GRAY2BGR)
    if rng.random() < 0.7:
        q = int(rng.uniform(25, 90))
        ok, enc = cv2.imencode(".jpg", frame, [cv2.IMWRITE_JPEG_QUALITY, q])
        if ok:
            frame = cv2.imdecode(enc, cv2.IMREAD_COLOR)
    return frame
