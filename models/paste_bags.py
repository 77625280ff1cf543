#!/usr/bin/env python3
"""Real bags pasted into other scenes: more real bags, in more places, than the real sets hold.

    python models/paste_bags.py --data data/garbage   # after build_dataset.py and mine_negatives.py
    # data/garbage/paste_train/ and data_paste.yaml (data_hard.yaml's training folders plus it)

The real sets are few (62 phone-photo sources) and all of one kind of place (streets, a truck's
hopper); the simulated rooms are the product's place but their bags are drawn. This cuts every
labelled bag out of the real training pictures along its polygon (the labels are outlines) and
pastes one to three of them, scaled, mirrored at random, with feathered edges and their
brightness pulled part of the way to the spot they land on, onto simulated training rooms and
onto the reviewed bag-free real pictures (neg_train_reviewed/, neg_hard/). Where pasted bags
cover most of an object labelled in the background, its label goes ("Simple Copy-Paste",
Ghiasi et al., CVPR 2021, pastes the same way, without blending).

Only training pictures are read, cutouts and backgrounds alike: no validation or held-out
picture, and no bag cut from one, ends up in a composite.
"""
from __future__ import annotations

import argparse
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.zones import iou  # noqa: E402
from hw.sim.cutouts import blend, letterbox, polygon_crop  # noqa: E402
from models.build_dataset import label_of, one_per_source, real_polygons, yolo_line  # noqa: E402
from models.evaluate import CLASSES, read_labels  # noqa: E402

PHONE, TRUCK = "real_train", "truck_train"
MIN_AREA = 0.003  # of the source picture: smaller outlines are slivers of a pile
EDGE = 0.01  # a bag whose box touches the picture's edge is cut by it: never pasted
HEIGHT_RANGE = (0.08, 0.40)  # pasted bag height, as a share of the background's (log-uniform)
PHONE_SHARE = 0.6  # share of pastes drawn from the phone photos (the scarcer, weaker kind)
COVERED = 0.6  # a background label covered this much by pasted bags is dropped
LIGHT_PULL = 0.35  # how far a bag's brightness moves towards its landing spot's (0: not, 1: matched)


class Cutout:
    """One labelled bag cut out of a real training picture: its pixels and its mask, cropped to its box."""

    def __init__(self, pixels: np.ndarray, mask: np.ndarray):
        # outside the outline, the bag's own colours smeared outwards: resizing and feathering then
        # blend the edge with the bag, never with the street it was photographed on
        inside = (mask > 0).astype(np.float32)
        k = (max(3, int(0.15 * max(mask.shape))) | 1,) * 2
        smeared = cv2.blur(pixels.astype(np.float32) * inside[..., None], k) / np.maximum(cv2.blur(inside, k), 1e-3)[..., None]
        self.pixels = np.where(inside[..., None] > 0, pixels, np.clip(smeared, 0, 255).astype(np.uint8))
        self.mask = mask


def cut_bags(img: np.ndarray, polys: list[np.ndarray]) -> list[Cutout]:
    """Every bag of one picture that is whole in it (not cut by its edge) and not a sliver."""
    h, w = img.shape[:2]
    out = []
    for poly in polys:
        x1, y1 = poly.min(0)
        x2, y2 = poly.max(0)
        if (x2 - x1) * (y2 - y1) < MIN_AREA or x1 < EDGE or y1 < EDGE or x2 > 1 - EDGE or y2 > 1 - EDGE:
            continue
        pixels, mask = polygon_crop(img, poly * [w, h])
        # a bag that the export's turned copy cut with its letterbox corner is not a whole bag either
        if mask.any() and letterbox(pixels)[mask > 0].mean() <= 0.05:
            out.append(Cutout(pixels.copy(), mask))
    return out


def read_boxes(label: Path, w: int, h: int) -> list[tuple[int, float, float, float, float]]:
    """(class, x1, y1, x2, y2) in pixels of every labelled object of a YOLO box label file."""
    return [(cls, *box) for cls in range(len(CLASSES)) for box in read_labels(label, w, h, cls)]


def paste(background: np.ndarray, boxes: list, cutouts: list[Cutout], rng: random.Random):
    """background with cutouts pasted; returns (picture, boxes) where boxes are the background's labels
    (class, x1, y1, x2, y2) that stay visible plus one garbage_bag box per pasted bag."""
    out = background.astype(np.float32)
    h, w = background.shape[:2]
    covered = np.zeros((h, w), np.float32)
    placed: list[tuple[float, float, float, float]] = []
    for cut in cutouts:
        ch, cw = cut.mask.shape
        lo, hi = HEIGHT_RANGE
        scale = np.exp(rng.uniform(np.log(lo), np.log(hi))) * h / ch
        nw, nh = max(2, round(cw * scale)), max(2, round(ch * scale))
        if nw >= w or nh >= h:
            scale = min((w - 1) / cw, (h - 1) / ch)
            nw, nh = max(2, int(cw * scale)), max(2, int(ch * scale))
        for _ in range(20):  # a spot on the lower part (the floor), in the scene, not on a bag pasted before
            x = rng.randint(0, w - nw)
            y = rng.randint(min(int(0.45 * h), h - nh), h - nh)
            box = (x, y, x + nw, y + nh)
            if all(iou(box, p) < 0.3 for p in placed) and not _off_scene(background[y:y + nh, x:x + nw]):
                break
        else:
            continue
        pixels = cv2.resize(cut.pixels, (nw, nh), interpolation=cv2.INTER_AREA if scale < 1 else cv2.INTER_LINEAR)
        mask = cv2.resize(cut.mask, (nw, nh), interpolation=cv2.INTER_LINEAR)
        if rng.random() < 0.5:
            pixels, mask = pixels[:, ::-1], mask[:, ::-1]
        feather = max(3, int(0.03 * max(nw, nh))) | 1
        alpha = cv2.GaussianBlur(mask, (feather, feather), 0).astype(np.float32) / 255.0
        alpha *= mask > 0  # feather inwards only: no halo of the source's background
        inside = alpha > 0.5  # what blend() boxes
        if not inside.any():
            continue
        gain = ((out[y:y + nh, x:x + nw].mean() + 1.0) / (pixels[inside].mean() + 1.0)) ** LIGHT_PULL
        bag = np.clip(pixels.astype(np.float32) * float(np.clip(gain, 0.6, 1.6)), 0, 255)
        placed.append(blend(out, bag, alpha, x, y))
        covered[y:y + nh, x:x + nw] = np.maximum(covered[y:y + nh, x:x + nw], inside)
    kept = []
    for cls, x1, y1, x2, y2 in boxes:
        a, b, c, d = max(0, int(x1)), max(0, int(y1)), min(w, int(np.ceil(x2))), min(h, int(np.ceil(y2)))
        if c > a and d > b and covered[b:d, a:c].mean() < COVERED:
            kept.append((cls, x1, y1, x2, y2))
    picture = np.clip(out, 0, 255).astype(np.uint8)
    return picture, kept + [(0, *p) for p in placed]


def _off_scene(spot: np.ndarray) -> bool:
    return float(letterbox(spot).mean()) > 0.1


def training_cutouts(data: Path) -> dict[str, list[Cutout]]:
    """The bags of the real training pictures: every phone picture (their augmented copies turn and
    shear the bags: more shapes), one picture per truck frame."""
    cuts: dict[str, list[Cutout]] = {PHONE: [], TRUCK: []}
    for folder in (PHONE, TRUCK):
        images = data / folder / "images"
        if not images.is_dir():
            continue
        files = sorted({p.resolve() for p in images.iterdir()})
        for path in (files if folder == PHONE else one_per_source(files)):
            img = cv2.imread(str(path))
            if img is not None:
                cuts[folder] += cut_bags(img, real_polygons(label_of(path)))
    return cuts


def backgrounds(data: Path, sim: int, neg_copies: int, rng: random.Random, extra: list[Path] = ()) -> list[Path]:
    """`sim` simulated training rooms drawn by rng, and each reviewed bag-free real training picture
    and each picture of the `extra` folders (a site's own frames) `neg_copies` times."""
    rooms = sorted((data / "sim_train" / "images").glob("*.jpg"))
    out = rng.sample(rooms, min(sim, len(rooms)))
    reviewed = sorted((data / "neg_train_reviewed" / "images").iterdir()) if (data / "neg_train_reviewed").is_dir() else []
    # neg_hard lists each mined view --copies times (NAME_0.jpg, NAME_1.jpg, ...): one of each
    hard = sorted({p.stem.rsplit("_", 1)[0]: p for p in (data / "neg_hard" / "images").glob("*.jpg")}.values()) \
        if (data / "neg_hard").is_dir() else []
    own = sorted(p for folder in extra for p in folder.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    return out + [p for p in reviewed + hard + own for _ in range(neg_copies)]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="paste real training bags into simulated rooms and bag-free real pictures")
    ap.add_argument("--data", type=Path, default=Path("data/garbage"), help="the dataset build_dataset.py wrote")
    ap.add_argument("--sim", type=int, default=300, help="simulated training rooms to paste into")
    ap.add_argument("--neg-copies", type=int, default=3, help="composites per reviewed bag-free real picture")
    ap.add_argument("--max-bags", type=int, default=3, help="bags pasted into one picture (at least one)")
    ap.add_argument("--backgrounds", type=Path, action="append", default=[], metavar="DIR",
                    help="also paste into these pictures, e.g. a site's empty-room frames (labels, if any, in ../labels)")
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args(argv)
    if not (args.data / "data_hard.yaml").is_file():
        print(f"error: {args.data / 'data_hard.yaml'} is missing: run build_dataset.py and mine_negatives.py --review first",
              file=sys.stderr)
        return 2
    missing = [d for d in args.backgrounds if not d.is_dir()]
    if missing:
        print(f"error: --backgrounds {missing[0]} is not a folder", file=sys.stderr)
        return 2
    rng = random.Random(args.seed)
    cuts = training_cutouts(args.data)
    if not cuts[PHONE] and not cuts[TRUCK]:
        print(f"error: no labelled real bag in {args.data / PHONE} or {args.data / TRUCK}", file=sys.stderr)
        return 2
    out = args.data / "paste_train"
    for sub in ("images", "labels"):
        (out / sub).mkdir(parents=True, exist_ok=True)
        for old in (out / sub).iterdir():
            old.unlink()
    n = 0
    for i, bg_path in enumerate(backgrounds(args.data, args.sim, args.neg_copies, rng, args.backgrounds)):
        bg = cv2.imread(str(bg_path))
        if bg is None:
            continue
        h, w = bg.shape[:2]
        chosen = []
        for _ in range(rng.randint(1, args.max_bags)):
            kind = PHONE if (rng.random() < PHONE_SHARE and cuts[PHONE]) or not cuts[TRUCK] else TRUCK
            chosen.append(rng.choice(cuts[kind]))
        boxes = read_boxes(bg_path.parent.parent / "labels" / f"{bg_path.stem}.txt", w, h)
        picture, labels = paste(bg, boxes, chosen, rng)
        stem = f"paste{i:04d}_{bg_path.stem}"
        cv2.imwrite(str(out / "images" / f"{stem}.jpg"), picture, [cv2.IMWRITE_JPEG_QUALITY, 92])
        (out / "labels" / f"{stem}.txt").write_text(
            "".join(yolo_line(x1 / w, y1 / h, x2 / w, y2 / h, cls) + "\n" for cls, x1, y1, x2, y2 in labels))
        n += 1
    hard = (args.data / "data_hard.yaml").read_text()
    (args.data / "data_paste.yaml").write_text(hard.replace("val:\n", "  - paste_train/images\nval:\n", 1))
    print(f"{n} composites in {out} from {len(cuts[PHONE])} phone and {len(cuts[TRUCK])} truck bags; "
          f"train on {args.data / 'data_paste.yaml'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
