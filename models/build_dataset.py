#!/usr/bin/env python3
"""Build the detector's training data in YOLO format.

Two sources, three classes (0 garbage_bag, 1 bin, 2 person):
- simulated rooms from `hw.sim.random_scene` (domain-randomized look, camera, light),
  with disjoint seed ranges for training, validation and the held-out test set;
- real photos of bags on the ground (a folder in the Roboflow YOLOv8-segmentation layout:
  train/valid/test with images/ and labels/; every class becomes garbage_bag and each
  polygon becomes its min/max box). Photos are split by source photo (the file-name part
  before `.rf.`), never by file, so augmented twins never straddle the split.

Images are linked (real photos) or written (simulated) under OUT; nothing is downloaded.

    python models/build_dataset.py --out data/garbage --real PATH/real-bags
"""
from __future__ import annotations

import argparse
import json
import os
import random
import re
import sys
from datetime import datetime, timedelta
from multiprocessing import Pool
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from hw.sim import CLASSES, random_scene  # noqa: E402

# Seed ranges: never overlap, so held-out scenes are never seen in training.
SEED_TRAIN, SEED_VAL, SEED_TEST = 0, 500_000, 1_000_000


def _write_sim(job: tuple[str, int, bool, int, int]) -> int:
    out, seed, default_layout, w, h = job
    frame, truth = random_scene(seed, (w, h), default_layout=default_layout)
    name = f"sim_{seed:07d}"
    cv2.imwrite(str(Path(out) / "images" / f"{name}.jpg"), frame, [cv2.IMWRITE_JPEG_QUALITY, 92])
    lines = []
    for b in truth:
        x1, y1, x2, y2 = b.xyxy
        if x2 - x1 < 2 or y2 - y1 < 2:
            continue
        lines.append(f"{CLASSES.index(b.cls)} {(x1 + x2) / 2 / w:.6f} {(y1 + y2) / 2 / h:.6f} {(x2 - x1) / w:.6f} {(y2 - y1) / h:.6f}")
    (Path(out) / "labels" / f"{name}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
    return len(lines)


def render_sim(out: Path, seeds: list[int], workers: int, default_every: int = 3) -> None:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    jobs = []
    for i, s in enumerate(seeds):
        # a third of the scenes use the product's default room layout; the rest are randomized
        w, h = random.Random(s).choice([(640, 480), (640, 480), (640, 360), (512, 512)])
        default = i % default_every == 0
        jobs.append((str(out), s, default, 640 if default else w, 480 if default else h))
    with Pool(workers) as pool:
        for k, _ in enumerate(pool.imap_unordered(_write_sim, jobs, chunksize=8)):
            if k % 200 == 0:
                print(f"  {out.name}: {k}/{len(jobs)}", flush=True)


def source_of(name: str) -> str:
    return name.split(".rf.")[0]


def yolo_line(x1: float, y1: float, x2: float, y2: float, cls: int = 0) -> str:
    """A YOLO label line for a box in 0..1 coordinates."""
    return f"{cls} {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}"


def real_box_lines(label: Path) -> list[str]:
    lines = []
    for row in label.read_text().split("\n"):
        vals = row.split()
        if len(vals) < 7:
            continue
        xs = [float(v) for v in vals[1::2]]
        ys = [float(v) for v in vals[2::2]]
        x1, x2 = max(0.0, min(xs)), min(1.0, max(xs))
        y1, y2 = max(0.0, min(ys)), min(1.0, max(ys))
        if x2 - x1 > 0.004 and y2 - y1 > 0.004:
            lines.append(yolo_line(x1, y1, x2, y2))
    return lines


def link_real(files: list[Path], out: Path, copies: int) -> int:
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    n = 0
    for img in files:
        label = img.parent.parent / "labels" / (img.stem + ".txt")
        lines = real_box_lines(label) if label.is_file() else []
        for k in range(copies):  # oversampling: the real photos are few
            stem = f"real_{img.stem}_{k}"
            dst = out / "images" / f"{stem}{img.suffix}"
            if dst.exists() or dst.is_symlink():
                dst.unlink()
            os.symlink(img.resolve(), dst)
            (out / "labels" / f"{stem}.txt").write_text("\n".join(lines) + ("\n" if lines else ""))
            n += 1
    return n


def real_polygons(label: Path) -> list[np.ndarray]:
    """Every bag outline of a YOLO-segmentation label file, as normalized (N, 2) arrays."""
    polys = []
    if label.is_file():
        for row in label.read_text().split("\n"):
            vals = row.split()
            if len(vals) >= 7:
                polys.append(np.array([float(v) for v in vals[1:]], np.float32).reshape(-1, 2))
    return polys


def label_of(img: Path) -> Path:
    return img.parent.parent / "labels" / (img.stem + ".txt")


# --- truck-bags: whole recordings held out by time ---------------------------------------

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})-(\d{2})(\d{2})(\d{2})(?:\D|$)")
_STAMP_AT = re.compile(r"(\d{4}-\d{2}-\d{2})-at-(\d{1,2})-(\d{2})-(\d{2})-(AM|PM)")
SESSION_GAP_S = 600  # frames further apart than this belong to different recordings
# Recordings (by start time) never used for training: held out for the figures, and one for
# choosing weights. Whole recordings, so no neighbouring frame of a held-out one is trained on.
TRUCK_TEST_SESSIONS = ("2023-12-03T04:44", "2023-12-08T20:00", "2023-12-10T19:33")
TRUCK_VAL_SESSIONS = ("2023-12-03T05:16",)


def frame_time(name: str) -> datetime:
    m = _STAMP_AT.search(name)
    if m:
        hour = int(m.group(2)) % 12 + (12 if m.group(5) == "PM" else 0)
        return datetime.fromisoformat(m.group(1)) + timedelta(hours=hour, minutes=int(m.group(3)), seconds=int(m.group(4)))
    m = _STAMP.search(name)
    if not m:
        raise ValueError(f"no time stamp in truck frame name {name!r}")
    return datetime.fromisoformat(m.group(1)) + timedelta(hours=int(m.group(2)), minutes=int(m.group(3)), seconds=int(m.group(4)))


def truck_sessions(sources: list[str]) -> dict[str, str]:
    """source -> start time (YYYY-MM-DDTHH:MM) of the recording it belongs to."""
    stamped = sorted((frame_time(s), s) for s in sources)
    out: dict[str, str] = {}
    start, prev = None, None
    for t, s in stamped:
        if prev is None or (t - prev).total_seconds() > SESSION_GAP_S:
            start = t.strftime("%Y-%m-%dT%H:%M")
        out[s] = start
        prev = t
    return out


def one_per_source(images: list[Path]) -> list[Path]:
    """The first picture (by name) of each source picture: its augmented copies left out."""
    first: dict[str, Path] = {}
    for p in sorted(images):
        first.setdefault(source_of(p.name), p)
    return list(first.values())


def split_truck(images: list[Path]) -> dict[str, list[Path]]:
    """train/val/test by recording; one picture per source frame (the augmented twins add little)."""
    first = {source_of(p.name): p for p in one_per_source(images)}
    session = truck_sessions(list(first))
    split = {"train": [], "val": [], "test": []}
    for src, img in sorted(first.items()):
        part = "test" if session[src] in TRUCK_TEST_SESSIONS else "val" if session[src] in TRUCK_VAL_SESSIONS else "train"
        split[part].append(img)
    return split


# --- negatives: real pictures with no bag in them -----------------------------------------

def bag_free_strips(img: np.ndarray, polys: list[np.ndarray], margin: float = 0.03, min_side: float = 0.35) -> list:
    """The four strips beside all bags (left, right, above or below them), largest first: each a crop, or
    None where it is too narrow or mostly edge (none at all for a picture without bags)."""
    h, w = img.shape[:2]
    if not polys:
        return []
    pts = np.concatenate(polys)
    x1, y1 = pts.min(0) - margin
    x2, y2 = pts.max(0) + margin
    strips = [(0.0, 0.0, x1, 1.0), (x2, 0.0, 1.0, 1.0), (0.0, 0.0, 1.0, y1), (0.0, y2, 1.0, 1.0)]
    strips.sort(key=lambda r: -max(0.0, r[2] - r[0]) * max(0.0, r[3] - r[1]))
    crops = []
    for r in strips:
        a, b, c, d = int(r[0] * w), int(r[1] * h), int(r[2] * w), int(r[3] * h)
        crop = img[b:d, a:c] if r[2] - r[0] >= min_side and r[3] - r[1] >= min_side else None
        # letterbox edges of the phone photos are white: a crop that is mostly edge teaches nothing
        crops.append(None if crop is None or crop.size == 0 or float((crop > 245).all(axis=2).mean()) > 0.5 else crop)
    return crops


def bag_free_crop(img: np.ndarray, polys: list[np.ndarray], margin: float = 0.03, min_side: float = 0.35):
    """The largest strip beside all bags, or None where it does not qualify."""
    strips = bag_free_strips(img, polys, margin, min_side)
    return strips[0] if strips else None


def bags_masked_out(img: np.ndarray, polys: list[np.ndarray], dilate_px: int = 9) -> np.ndarray:
    """The picture with every labelled bag painted over from its surroundings (inpainting at half size)."""
    h, w = img.shape[:2]
    mask = np.zeros((h, w), np.uint8)
    for p in polys:
        cv2.fillPoly(mask, [np.round(p * [w, h]).astype(np.int32)], 255)
    mask = cv2.dilate(mask, np.ones((dilate_px, dilate_px), np.uint8))
    small = cv2.resize(img, (w // 2, h // 2), interpolation=cv2.INTER_AREA)
    small_mask = cv2.resize(mask, (w // 2, h // 2), interpolation=cv2.INTER_NEAREST)
    filled = cv2.resize(cv2.inpaint(small, small_mask, 5, cv2.INPAINT_TELEA), (w, h), interpolation=cv2.INTER_LINEAR)
    out = img.copy()
    out[mask > 0] = filled[mask > 0]
    return out


def bag_area(polys: list[np.ndarray]) -> float:
    """Fraction of the picture inside bag outlines (on a 200x200 grid: cheap and close enough)."""
    mask = np.zeros((200, 200), np.uint8)
    for p in polys:
        cv2.fillPoly(mask, [np.round(p * 200).astype(np.int32)], 1)
    return float(mask.mean())


def negative_stem(name: str) -> str:
    """A source picture's part of its negatives' file names (a truck frame's leading '-' dropped)."""
    return source_of(name).lstrip("-")


def write_negatives(images: list[Path], out: Path, prefix: str, max_masked: int, seed: int,
                    max_bag_area: float = 0.3) -> dict[str, int]:
    """Bag-free crops of every picture that has room for one, and up to max_masked pictures with their bags
    painted out (only where bags cover at most max_bag_area: a painted-over pile is no real scene)."""
    (out / "images").mkdir(parents=True, exist_ok=True)
    (out / "labels").mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    masked_pick = set(rng.sample(range(len(images)), min(max_masked, len(images))))
    counts = {"crops": 0, "masked": 0}
    for i, path in enumerate(images):
        img = cv2.imread(str(path))
        if img is None:
            continue
        polys = real_polygons(label_of(path))
        stem = f"{prefix}_{negative_stem(path.name)}"
        crop = bag_free_crop(img, polys)
        if crop is not None:
            cv2.imwrite(str(out / "images" / f"{stem}_crop.jpg"), crop, [cv2.IMWRITE_JPEG_QUALITY, 92])
            (out / "labels" / f"{stem}_crop.txt").write_text("")
            counts["crops"] += 1
        if i in masked_pick and polys and bag_area(polys) <= max_bag_area:
            cv2.imwrite(str(out / "images" / f"{stem}_masked.jpg"), bags_masked_out(img, polys), [cv2.IMWRITE_JPEG_QUALITY, 92])
            (out / "labels" / f"{stem}_masked.txt").write_text("")
            counts["masked"] += 1
    return counts


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/garbage"))
    ap.add_argument("--real", type=Path, default=None, help="real-bags folder (train/valid/test, YOLO segmentation labels)")
    ap.add_argument("--truck", type=Path, default=None, help="truck-bags folder (flat images/ and labels/)")
    ap.add_argument("--sim-train", type=int, default=450)
    ap.add_argument("--sim-val", type=int, default=120)
    ap.add_argument("--sim-test", type=int, default=300)
    ap.add_argument("--real-copies", type=int, default=1, help="times each real training photo is listed")
    ap.add_argument("--holdout-sources", type=int, default=12,
                    help="source photos of the real train split also kept out of training (besides valid/ and test/)")
    ap.add_argument("--val-sources", type=int, default=8, help="source photos of the real train split used to choose weights")
    ap.add_argument("--masked-negatives", type=int, default=120, help="training pictures repeated with their bags painted out")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print("rendering simulated scenes…", flush=True)
    render_sim(out / "sim_train", list(range(SEED_TRAIN, SEED_TRAIN + args.sim_train)), args.workers)
    render_sim(out / "sim_val", list(range(SEED_VAL, SEED_VAL + args.sim_val)), args.workers)
    render_sim(out / "sim_test", list(range(SEED_TEST, SEED_TEST + args.sim_test)), args.workers)
    train_dirs, val_dirs = ["sim_train/images"], ["sim_val/images"]
    manifest: dict = {"sim_seeds": {"train": [SEED_TRAIN, SEED_TRAIN + args.sim_train], "val": [SEED_VAL, SEED_VAL + args.sim_val],
                                    "test": [SEED_TEST, SEED_TEST + args.sim_test]}}
    fit_real: list[Path] = []
    val_real: list[Path] = []
    held_real: list[Path] = []
    if args.real:
        real = args.real
        train_imgs = sorted((real / "train" / "images").glob("*.jpg"))
        sources = sorted({source_of(p.name) for p in train_imgs})
        # the same 12 held-out sources as every earlier model card (Random(3)), so figures compare
        held = set(random.Random(3).sample(sources, min(args.holdout_sources, len(sources))))
        rest = [s for s in sources if s not in held]
        val_src = set(random.Random(4).sample(rest, min(args.val_sources, len(rest))))
        fit_real = [p for p in train_imgs if source_of(p.name) not in held | val_src]
        val_real = [p for p in train_imgs if source_of(p.name) in val_src]
        held_real = [p for p in train_imgs if source_of(p.name) in held]
        for split in ("valid", "test"):
            held_real += sorted((real / split / "images").glob("*.jpg"))
        n_fit = link_real(fit_real, out / "real_train", args.real_copies)
        n_val = link_real(val_real, out / "real_val", 1)
        n_hold = link_real(held_real, out / "real_test", 1)
        parts = [{source_of(p.name) for p in x} for x in (fit_real, val_real, held_real)]
        assert not (parts[0] & parts[1] or parts[0] & parts[2] or parts[1] & parts[2]), "a source photo in two splits"
        train_dirs.append("real_train/images")
        val_dirs.append("real_val/images")
        manifest["real"] = {"train_sources": len(parts[0]), "train_images": n_fit, "val_sources": len(parts[1]), "val_images": n_val,
                            "heldout_sources": len(parts[2]), "heldout_images": n_hold,
                            "heldout_from_train_split": sorted(held), "val_from_train_split": sorted(val_src)}
        print(f"real photos: {n_fit} training, {n_val} validation, {n_hold} held-out images", flush=True)
    fit_truck: list[Path] = []
    val_truck: list[Path] = []
    held_truck: list[Path] = []
    if args.truck:
        split = split_truck(sorted((args.truck / "images").glob("*.jpg")))
        fit_truck, val_truck, held_truck = split["train"], split["val"], split["test"]
        n = {k: link_real(v, out / f"truck_{k}", 1) for k, v in split.items()}
        train_dirs.append("truck_train/images")
        val_dirs.append("truck_val/images")
        manifest["truck"] = {"train_frames": n["train"], "val_frames": n["val"], "heldout_frames": n["test"],
                             "heldout_recordings": list(TRUCK_TEST_SESSIONS), "val_recordings": list(TRUCK_VAL_SESSIONS)}
        print(f"truck frames: {n['train']} training, {n['val']} validation, {n['test']} held-out", flush=True)
    if fit_real or fit_truck:
        print("negatives (no bag in the picture)…", flush=True)
        fit = one_per_source(fit_real) + fit_truck
        held = one_per_source(held_real) + held_truck
        val_neg = one_per_source(val_real) + val_truck
        # clean_val: the validation pictures' clean twins, so a choice can weigh false bags without clean_test
        manifest["negatives"] = {"train": write_negatives(fit, out / "neg_train", "neg", args.masked_negatives, 5),
                                 "heldout": write_negatives(held, out / "clean_test", "clean", len(held), 6),
                                 "val": write_negatives(val_neg, out / "clean_val", "cleanval", len(val_neg), 7)}
        train_dirs.append("neg_train/images")
        print(f"negatives: {manifest['negatives']}", flush=True)
    names = ["names:"] + [f"  {i}: {c}" for i, c in enumerate(CLASSES)]

    def data_yaml(name: str, train: list[str], val: list[str]) -> None:
        lines = [f"path: {out.resolve()}", "train:"] + [f"  - {d}" for d in train] + ["val:"] + [f"  - {d}" for d in val]
        (out / name).write_text("\n".join(lines + names) + "\n")

    data_yaml("data.yaml", train_dirs, val_dirs)
    data_yaml("sim_test.yaml", ["sim_train/images"], ["sim_test/images"])
    if args.real:
        data_yaml("real_test.yaml", ["real_train/images"], ["real_test/images"])
    if args.truck:
        data_yaml("truck_test.yaml", ["truck_train/images"], ["truck_test/images"])
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"dataset ready: {out / 'data.yaml'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
