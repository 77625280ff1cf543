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
import sys
from multiprocessing import Pool
from pathlib import Path

import cv2

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
            lines.append(f"0 {(x1 + x2) / 2:.6f} {(y1 + y2) / 2:.6f} {x2 - x1:.6f} {y2 - y1:.6f}")
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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--out", type=Path, default=Path("data/garbage"))
    ap.add_argument("--real", type=Path, default=None, help="real-photo folder (train/valid/test, YOLO segmentation labels)")
    ap.add_argument("--sim-train", type=int, default=450)
    ap.add_argument("--sim-val", type=int, default=120)
    ap.add_argument("--sim-test", type=int, default=300)
    ap.add_argument("--real-copies", type=int, default=1, help="times each real training photo is listed")
    ap.add_argument("--holdout-sources", type=int, default=12,
                    help="source photos of the real train split also kept out of training (besides valid/ and test/)")
    ap.add_argument("--workers", type=int, default=2)
    args = ap.parse_args(argv)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    print("rendering simulated scenes…", flush=True)
    render_sim(out / "sim_train", list(range(SEED_TRAIN, SEED_TRAIN + args.sim_train)), args.workers)
    render_sim(out / "sim_val", list(range(SEED_VAL, SEED_VAL + args.sim_val)), args.workers)
    render_sim(out / "sim_test", list(range(SEED_TEST, SEED_TEST + args.sim_test)), args.workers)
    train_dirs = ["sim_train/images"]
    manifest = {"sim_seeds": {"train": [SEED_TRAIN, SEED_TRAIN + args.sim_train], "val": [SEED_VAL, SEED_VAL + args.sim_val],
                              "test": [SEED_TEST, SEED_TEST + args.sim_test]}}
    if args.real:
        real = args.real
        train_imgs = sorted((real / "train" / "images").glob("*.jpg"))
        sources = sorted({source_of(p.name) for p in train_imgs})
        held = set(random.Random(3).sample(sources, min(args.holdout_sources, len(sources))))
        fit = [p for p in train_imgs if source_of(p.name) not in held]
        hold = [p for p in train_imgs if source_of(p.name) in held]
        for split in ("valid", "test"):
            hold += sorted((real / split / "images").glob("*.jpg"))
        n_fit = link_real(fit, out / "real_train", args.real_copies)
        n_hold = link_real(hold, out / "real_test", 1)
        leak = {source_of(p.name) for p in fit} & {source_of(p.name) for p in hold}
        assert not leak, f"source photos in both splits: {leak}"
        train_dirs.append("real_train/images")
        manifest["real"] = {"train_sources": len({source_of(p.name) for p in fit}), "train_images": n_fit,
                            "heldout_sources": len({source_of(p.name) for p in hold}), "heldout_images": n_hold,
                            "heldout_from_train_split": sorted(held)}
        print(f"real photos: {n_fit} training images, {n_hold} held-out images", flush=True)
    yaml = [f"path: {out.resolve()}", "train:"] + [f"  - {d}" for d in train_dirs] + [
        "val: sim_val/images", "names:"] + [f"  {i}: {c}" for i, c in enumerate(CLASSES)]
    (out / "data.yaml").write_text("\n".join(yaml) + "\n")
    test_yaml = [f"path: {out.resolve()}", "train: sim_train/images", "val: sim_test/images", "names:"] + [f"  {i}: {c}" for i, c in enumerate(CLASSES)]
    (out / "sim_test.yaml").write_text("\n".join(test_yaml) + "\n")
    real_yaml = [f"path: {out.resolve()}", "train: real_train/images", "val: real_test/images", "names:"] + [f"  {i}: {c}" for i, c in enumerate(CLASSES)]
    (out / "real_test.yaml").write_text("\n".join(real_yaml) + "\n")
    (out / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    print(f"dataset ready: {out / 'data.yaml'}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
