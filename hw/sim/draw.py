"""Drawing the room's things as small patches: bags, bins and people.

Each function returns a BGR float32 patch and an alpha mask of the same size; the
compositor pastes them in depth order. Shapes come from a numpy Generator, so the same
seed draws the same bag.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

# Shanghai's four bin colours (BGR): 湿垃圾 brown, 干垃圾 black, 可回收物 blue, 有害垃圾 red
BIN_COLORS = {
    "wet": (35, 70, 115),
    "dry": (38, 38, 40),
    "recyclable": (160, 95, 25),
    "hazardous": (40, 40, 185),
}
BAG_COLORS = {
    "black_bag": (24, 24, 26),
    "white_bag": (222, 224, 222),
    "grey_bag": (120, 118, 115),
    "blue_bag": (150, 95, 45),
    "green_bag": (60, 120, 55),
    "red_shopping_bag": (45, 40, 190),
    "yellow_shopping_bag": (40, 200, 230),
    "blue_shopping_bag": (190, 120, 40),
    "white_shopping_bag": (235, 235, 232),
    "paper_bag": (95, 140, 185),
    "box": (85, 135, 180),
    "carton": (110, 150, 175),  # a big flat carton (a television's), no garbage bag
    "chair": (40, 62, 95),  # a broken wooden chair: bulky waste
}


def _soft(mask: np.ndarray, k: int = 3) -> np.ndarray:
    a = mask.astype(np.float32) / 255.0
    if min(mask.shape) > 8:
        a = cv2.GaussianBlur(a, (k, k), 0)
    return a


def _noise_field(h: int, w: int, rng: np.random.Generator, scale: float, amp: float) -> np.ndarray:
    """Smooth random field (wrinkles, stains): low-res noise scaled up."""
    sh, sw = max(2, int(h / scale)), max(2, int(w / scale))
    small = rng.normal(0, 1, (sh, sw)).astype(np.float32)
    return cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC) * amp


def _jitter_color(color, rng: np.random.Generator, amount: float) -> np.ndarray:
    c = np.array(color, np.float32)
    return np.clip(c * rng.uniform(1 - amount, 1 + amount) + rng.normal(0, 8 * amount * 3, 3), 0, 255)


def bag_patch(kind: str, w: float, h: float, rng: np.random.Generator, color_jitter: float = 0.15):
    """A bag (or box) w x h pixels, its bottom on the patch's bottom edge."""
    W, H = max(6, int(round(w))), max(6, int(round(h)))
    mask = np.zeros((H, W), np.uint8)
    base = _jitter_color(BAG_COLORS.get(kind, (30, 30, 30)), rng, color_jitter)
    shade = np.ones((H, W), np.float32)
    extra = np.zeros((H, W, 3), np.float32)
    yy, xx = np.mgrid[0:H, 0:W].astype(np.float32)
    if kind.endswith("_bag") and "shopping" not in kind and kind != "paper_bag":
        # garbage bag: lumpy body, gathered neck and a knot with two ears
        cx, body_top = W / 2 + rng.uniform(-0.05, 0.05) * W, H * rng.uniform(0.18, 0.32)
        cy = (body_top + H) / 2 + H * 0.03
        rx, ry = W * 0.49, (H - body_top) / 2 + H * 0.03
        ang = np.linspace(0, 2 * np.pi, 60, endpoint=False)
        r = np.ones_like(ang)
        for k in (2, 3, 4, 5):
            r += rng.uniform(0.0, 0.07) * np.sin(k * ang + rng.uniform(0, 6.3))
        px = np.clip(cx + rx * r * np.cos(ang), 0, W - 1)
        py = np.clip(cy + ry * r * np.sin(ang), 0, H - 1)
        cv2.fillPoly(mask, [np.stack([px, py], 1).astype(np.int32)], 255)
        neck_w = W * rng.uniform(0.08, 0.16)
        kx = cx + rng.uniform(-0.08, 0.08) * W
        neck = np.array([[cx - neck_w * 1.6, body_top + ry * 0.35], [kx - neck_w * 0.5, H * 0.1],
                         [kx + neck_w * 0.5, H * 0.1], [cx + neck_w * 1.6, body_top + ry * 0.35]], np.int32)
        cv2.fillPoly(mask, [neck], 255)
        for side in (-1, 1):  # knot ears
            ear = np.array([[kx, H * 0.14], [kx + side * W * rng.uniform(0.12, 0.22), rng.uniform(0, 0.06) * H],
                            [kx + side * W * 0.05, H * 0.16]], np.int32)
            cv2.fillPoly(mask, [ear], 255)
        # round shading: light from the top left, wrinkles along the bag
        d = ((xx - cx + 0.3 * rx) / rx) ** 2 + ((yy - cy + 0.4 * ry) / ry) ** 2
        shade = 1.25 - 0.35 * np.clip(d, 0, 1.6)
        shade += _noise_field(H, W, rng, max(3.0, W / 10), 0.12)
        gloss = 90.0 if kind == "black_bag" else 35.0
        for _ in range(int(rng.integers(2, 6))):  # specular highlights on the plastic
            hx, hy = rng.uniform(0.2, 0.8) * W, rng.uniform(0.3, 0.8) * H
            spot = np.exp(-(((xx - hx) / (W * rng.uniform(0.03, 0.1))) ** 2 + ((yy - hy) / (H * rng.uniform(0.05, 0.2))) ** 2))
            extra += (spot * gloss * rng.uniform(0.4, 1.0))[..., None]
        wr = np.zeros((H, W), np.float32)
        for _ in range(int(rng.integers(3, 8))):  # creases running to the knot
            x0, y0 = rng.uniform(0.1, 0.9) * W, rng.uniform(0.45, 0.95) * H
            cv2.line(wr, (int(x0), int(y0)), (int(kx + rng.normal(0, W * 0.05)), int(H * 0.2)), 1.0, max(1, W // 40))
        wr = cv2.GaussianBlur(wr, (0, 0), max(1.0, W / 60))
        shade -= wr * 0.35
        extra += (wr * (30.0 if kind == "black_bag" else 0.0))[..., None]
    elif "shopping" in kind or kind == "paper_bag":
        top = H * rng.uniform(0.3, 0.45)
        inset = W * rng.uniform(0.0, 0.08)
        body = np.array([[inset, top], [W - 1 - inset, top], [W - 1, H - 1], [0, H - 1]], np.int32)
        cv2.fillPoly(mask, [body], 255)
        handle = max(1, int(W * (0.05 if kind != "paper_bag" else 0.03)))
        for side in (0.3, 0.7):
            cv2.ellipse(mask, (int(W * side), int(top)), (int(W * 0.12), int(top * 0.85)), 0, 180, 360, 255, handle)
        shade = 1.1 - 0.25 * (xx / W) + _noise_field(H, W, rng, max(3.0, W / 6), 0.08)
        if kind != "paper_bag":
            logo = _jitter_color((255, 255, 255) if kind != "white_shopping_bag" else (40, 40, 200), rng, 0.3)
            lx, ly, lr = W * rng.uniform(0.35, 0.65), top + (H - top) * rng.uniform(0.35, 0.6), W * rng.uniform(0.08, 0.18)
            logo_m = ((xx - lx) ** 2 + (yy - ly) ** 2 < lr ** 2).astype(np.float32)
            if rng.random() < 0.5:
                logo_m = ((abs(xx - lx) < lr * 1.4) & (abs(yy - ly) < lr * 0.6)).astype(np.float32)
            extra += logo_m[..., None] * (logo - base)[None, None, :]
        else:
            fold = (abs(xx - W * 0.5) < max(1, W * 0.01)).astype(np.float32)
            shade -= fold * 0.15
    elif kind == "chair":  # a broken chair lying tilted: seat, backrest, legs
        lw = max(2, W // 14)
        seat = np.array([[W * 0.05, H * 0.55], [W * 0.7, H * 0.5], [W * 0.95, H * 0.62], [W * 0.3, H * 0.68]], np.int32)
        back = np.array([[W * 0.05, H * 0.55], [W * 0.12, H * 0.05], [W * 0.3, H * 0.02], [W * 0.28, H * 0.6]], np.int32)
        cv2.fillPoly(mask, [seat, back], 255)
        for x0, x1 in ((0.08, 0.1), (0.32, 0.3), (0.7, 0.75), (0.92, 0.85)):
            cv2.line(mask, (int(W * x0), int(H * 0.62)), (int(W * x1), H - 2), 255, lw)
        cv2.line(mask, (int(W * 0.14), int(H * 0.2)), (int(W * 0.27), int(H * 0.25)), 255, lw)  # a cross bar
        shade = 1.0 + _noise_field(H, W, rng, max(3.0, W / 8), 0.1)
        shade = np.where(yy < H * 0.5, shade * 1.15, shade)
    else:  # cardboard box (and carton): front, top and side faces
        depth = W * rng.uniform(0.15, 0.3)
        fw = W - depth
        front_top = H * rng.uniform(0.25, 0.4)
        front = np.array([[0, front_top], [fw, front_top], [fw, H - 1], [0, H - 1]], np.int32)
        topf = np.array([[0, front_top], [depth, front_top - depth * 0.8], [W - 1, front_top - depth * 0.8], [fw, front_top]], np.int32)
        side = np.array([[fw, front_top], [W - 1, front_top - depth * 0.8], [W - 1, H - 1 - depth * 0.8], [fw, H - 1]], np.int32)
        topf[:, 1] = np.clip(topf[:, 1], 0, H - 1)
        side[:, 1] = np.clip(side[:, 1], 0, H - 1)
        for poly, s in ((front, 1.0), (topf, 1.25), (side, 0.75)):
            cv2.fillPoly(mask, [poly], 255)
            m = np.zeros((H, W), np.uint8)
            cv2.fillPoly(m, [poly], 1)
            shade = np.where(m > 0, s, shade)
        tape = (abs(xx - (depth * 0.5 + fw * 0.5)) < W * 0.06) & (yy < front_top + 2)
        shade = np.where(tape, shade * 1.15, shade)
        shade += _noise_field(H, W, rng, max(3.0, W / 8), 0.05)
    rgb = base[None, None, :] * shade[..., None] + extra
    return np.clip(rgb, 0, 255), _soft(mask)


def bin_patch(kind: str, w: float, h: float, rng: np.random.Generator, lid_open: bool = False, color_jitter: float = 0.1):
    """A wheelie bin w x h pixels with its lid; open lid adds height above. Returns (rgb, alpha, extra_top_px)."""
    W, H = max(8, int(round(w))), max(8, int(round(h)))
    extra_top = int(H * 0.4) if lid_open else 0
    PH = H + extra_top
    mask = np.zeros((PH, W), np.uint8)
    body = _jitter_color(BIN_COLORS.get(kind, (38, 38, 40)), rng, color_jitter)
    lid_c = np.clip(body * rng.uniform(0.75, 1.1), 0, 255)
    rgb = np.zeros((PH, W, 3), np.float32)
    lid_h = max(3, int(H * 0.1))
    wheel_r = max(2, int(H * 0.06))
    taper = W * 0.05
    yb = extra_top + lid_h
    body_poly = np.array([[taper * 0.3, yb], [W - 1 - taper * 0.3, yb], [W - 1 - taper, PH - 1 - wheel_r], [taper, PH - 1 - wheel_r]], np.int32)
    m_body = np.zeros((PH, W), np.uint8)
    cv2.fillPoly(m_body, [body_poly], 255)
    xx = np.arange(W, dtype=np.float32) / W
    cyl = 0.65 + 0.5 * np.clip(np.sin(np.pi * np.clip(xx * 1.1 - 0.05, 0, 1)), 0, 1) ** 0.6  # round body shading
    ribs = 1 - 0.08 * (np.sin(xx * np.pi * 8) > 0.85)
    col = body[None, None, :] * (cyl * ribs)[None, :, None]
    col = np.repeat(col, PH, axis=0)
    col *= (1 - 0.15 * np.linspace(0, 1, PH, dtype=np.float32))[:, None, None]
    rgb = np.where(m_body[..., None] > 0, col, rgb)
    mask |= m_body
    # label with a pictogram
    lw, lh = int(W * 0.42), int(H * 0.22)
    lx, ly = int(W * 0.29), int(yb + H * 0.12)
    label = np.zeros((PH, W), np.uint8)
    cv2.rectangle(label, (lx, ly), (lx + lw, ly + lh), 255, -1)
    rgb[label > 0] = (235, 235, 235)
    cv2.circle(rgb, (lx + lw // 2, ly + lh // 2), max(2, lh // 3), tuple(float(c) for c in body), -1)
    # lid: closed band on top or a flap raised above
    if lid_open:
        flap = np.array([[-1, yb], [W, yb], [W - taper, 0], [taper, 0]], np.int32)
        cv2.fillPoly(rgb, [flap], tuple(float(c) * 0.85 for c in lid_c))
        cv2.fillPoly(mask, [flap], 255)
        cv2.rectangle(rgb, (0, yb - 2), (W - 1, yb + 2), (20, 20, 20), -1)
    else:
        cv2.rectangle(rgb, (0, extra_top), (W - 1, yb), tuple(float(c) for c in lid_c), -1)
        cv2.rectangle(mask, (0, extra_top), (W - 1, yb), 255, -1)
        cv2.line(rgb, (0, yb), (W - 1, yb), tuple(float(c) * 0.5 for c in lid_c), max(1, H // 80))
        hw = int(W * 0.15)
        cv2.rectangle(rgb, (W // 2 - hw, extra_top + lid_h // 3), (W // 2 + hw, extra_top + lid_h * 2 // 3),
                      tuple(float(c) * 0.6 for c in lid_c), -1)
    for wx in (taper + wheel_r, W - 1 - taper - wheel_r):  # wheels
        cv2.circle(rgb, (int(wx), PH - 1 - wheel_r), wheel_r, (18, 18, 18), -1)
        cv2.circle(mask, (int(wx), PH - 1 - wheel_r), wheel_r, 255, -1)
    dirt = _noise_field(PH, W, rng, max(3.0, W / 8), 0.06)
    rgb *= (1 + dirt)[..., None]
    return np.clip(rgb, 0, 255), _soft(mask), extra_top


@dataclass
class Looks:
    """How one person looks (clothes, skin, hair, build)."""

    shirt: tuple[float, float, float]
    trousers: tuple[float, float, float]
    skin: tuple[float, float, float]
    hair: tuple[float, float, float]
    build: float
    hat: bool

    @staticmethod
    def random(rng: np.random.Generator) -> "Looks":
        def c(lo=20, hi=230):
            return tuple(float(v) for v in rng.uniform(lo, hi, 3))

        skin = tuple(float(v) for v in np.array([120, 160, 205]) * rng.uniform(0.55, 1.1))
        hair = tuple(float(v) for v in np.full(3, rng.uniform(10, 60)) + rng.uniform(0, 20, 3))
        if rng.random() < 0.15:
            hair = (200.0, 200.0, 200.0)  # grey-haired residents
        return Looks(c(), c(15, 160), skin, hair, float(rng.uniform(0.85, 1.2)), bool(rng.random() < 0.15))


def person_patch(height: float, looks: Looks, phase: float, walking: bool, facing: float, carrying: bool):
    """A person `height` px tall. facing: -1/1 walking left/right (side view), 0 facing the camera.

    Returns (rgb, alpha, feet_xy in patch, hand_xy in patch).
    """
    Hp = max(12, int(round(height)))
    Wp = max(8, int(round(Hp * 0.62 * looks.build)))
    rgb = np.zeros((Hp, Wp, 3), np.float32)
    mask = np.zeros((Hp, Wp), np.uint8)
    cx = Wp / 2
    side = abs(facing) > 0.3
    s = math.sin(phase) if walking else 0.0
    sh_w = Hp * (0.045 if side else 0.11) * looks.build
    hip_w = Hp * (0.035 if side else 0.075) * looks.build
    bounce = Hp * 0.012 * abs(math.cos(phase)) if walking else 0.0
    y_sh, y_hip, y_knee, y_foot = Hp * 0.19 + bounce, Hp * 0.52 + bounce, Hp * 0.76, Hp * 0.985
    limb = max(2, int(Hp * 0.075 * looks.build))
    leg = max(2, int(Hp * 0.09 * looks.build))

    def P(x, y):
        return (int(round(x)), int(round(y)))

    def limb_line(color, pts, thick):
        for a, b in zip(pts, pts[1:]):
            cv2.line(rgb, P(*a), P(*b), color, thick)
            cv2.line(mask, P(*a), P(*b), 255, thick)

    # legs: swing along the walking direction (side view) or small shuffle (front view)
    swing = 0.42 * s
    for k, sign in enumerate((1, -1)):
        ang = sign * swing
        hx = cx + (hip_w * (1 if k else -1) if not side else 0)
        dx = math.sin(ang) * (y_foot - y_hip) * (1 if side else 0.25) * (facing if side else 1)
        knee = (hx + dx * 0.55 + (Hp * 0.02 * facing if side and ang * facing > 0 else 0), y_knee)
        foot = (hx + dx, y_foot - Hp * 0.03)
        color = tuple(c * (0.8 if k else 1.0) for c in looks.trousers)
        limb_line(color, [(hx, y_hip), knee, foot], leg)
        shoe = (foot[0] + (Hp * 0.03 * facing if side else 0), y_foot - Hp * 0.02)
        cv2.ellipse(rgb, P(*shoe), (max(2, int(Hp * (0.05 if side else 0.035))), max(1, int(Hp * 0.02))), 0, 0, 360, (25, 25, 28), -1)
        cv2.ellipse(mask, P(*shoe), (max(2, int(Hp * (0.05 if side else 0.035))), max(1, int(Hp * 0.02))), 0, 0, 360, 255, -1)
    # torso
    torso = np.array([P(cx - sh_w, y_sh), P(cx + sh_w, y_sh), P(cx + hip_w * 1.1, y_hip + Hp * 0.03), P(cx - hip_w * 1.1, y_hip + Hp * 0.03)])
    cv2.fillPoly(rgb, [torso], looks.shirt)
    cv2.fillPoly(mask, [torso], 255)
    # arms: swing opposite the legs; the carrying arm hangs straight with the bag
    hand = (cx, y_hip)
    for k, sign in enumerate((-1, 1)):
        sx = cx + (sh_w * 0.85 * (1 if k else -1) if not side else 0)
        carry_arm = carrying and k == 1
        ang = 0.0 if carry_arm else -sign * swing * 0.8
        ex = sx + math.sin(ang) * Hp * 0.17 * (facing if side else 0.3) + (0 if side else (1 if k else -1) * Hp * 0.02)
        ey = y_sh + Hp * 0.16
        hx = ex + math.sin(ang * 1.3) * Hp * 0.16 * (facing if side else 0.3)
        hy = ey + Hp * 0.15
        if carry_arm:
            hx, hy = sx + (Hp * 0.04 * facing if side else Hp * 0.03), y_sh + Hp * 0.31
            hand = (hx, hy)
        color = tuple(c * (0.85 if k == 0 else 1.0) for c in looks.shirt)
        limb_line(color, [(sx, y_sh + limb * 0.3), (ex, ey), (hx, hy)], limb)
        cv2.circle(rgb, P(hx, hy), max(1, limb // 2), looks.skin, -1)
        cv2.circle(mask, P(hx, hy), max(1, limb // 2), 255, -1)
    # head, hair
    hr = max(2, int(Hp * 0.062))
    head = P(cx + (Hp * 0.01 * facing if side else 0), Hp * 0.075 + bounce)
    cv2.line(rgb, P(cx, y_sh), head, looks.skin, max(1, limb))
    cv2.line(mask, P(cx, y_sh), head, 255, max(1, limb))
    cv2.circle(rgb, head, hr, looks.skin, -1)
    cv2.circle(mask, head, hr, 255, -1)
    if looks.hat:
        cv2.ellipse(rgb, head, (int(hr * 1.15), hr), 0, 180, 360, tuple(c * 0.7 for c in looks.shirt), -1)
    elif not side or facing != 0:
        cv2.ellipse(rgb, head, (hr, hr), 0, 180 if not side else (200 if facing > 0 else 160), 360 if not side else (380 if facing > 0 else 340), looks.hair, -1)
    # body shading: light from one side
    xs = np.linspace(1.1, 0.8, Wp, dtype=np.float32)
    rgb *= xs[None, :, None]
    return np.clip(rgb, 0, 255), _soft(mask), (cx, float(Hp)), hand
