#!/usr/bin/env python3
"""Hard negatives: bag-free views of training pictures on which a model still sees a bag.

    python models/mine_negatives.py --data data/garbage --model models/garbage-yolo.onnx
    # look at data/garbage/neg_hard/review/sheet_*.png, write each view's verdict, then
    python models/mine_negatives.py --data data/garbage --model models/garbage-yolo.onnx \
        --review models/negatives-review.csv

Candidates are made from training pictures only (one per real source photo in `real_train/`,
every frame in `truck_train/`): every bag-free strip beside the labelled bags and the picture
with its bags painted out, plus the simulated training scenes with no bag. A candidate on
which the model reports a garbage_bag at `--conf` (below the deployed 0.4, so near misses
count too) is mined.

A mined view needs a person's look before it is trained on: the real sets do not label every
bag of a pile, so a "false" bag in a painted or cropped picture is often a real bag the labels
missed, and training on it would teach the model to miss bags. The first run writes numbered
contact sheets (`neg_hard/review/`) of the mined views and of the training negatives it did
not fire on, and a verdict file to fill in (`review.csv`: `none` where the picture holds no
bag, `bag` where it does). With `--review`, the views marked `none` go to
`neg_hard/` with empty labels, `--copies` times; the views marked `bag` are also taken out of
the training negatives (`neg_train_reviewed/` links the rest of `neg_train/`); and
`data_hard.yaml` trains on both. Validation and held-out pictures are never read.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import load_detector  # noqa: E402
from models.build_dataset import (bag_area, bag_free_strips, bags_masked_out, label_of,  # noqa: E402
                                  negative_stem, one_per_source, real_polygons)
from models.review_sheets import read_review, write_sheets  # noqa: E402

TRAIN_LINKED = ("real_train", "truck_train")  # symlinks to the source pictures, whose labels are polygons


def source_pictures(data: Path) -> list[Path]:
    """The training pictures behind data's linked folders, one per source (the copies add nothing)."""
    out: list[Path] = []
    for folder in TRAIN_LINKED:
        images = data / folder / "images"
        if images.is_dir():
            out += one_per_source([p.resolve() for p in images.iterdir()])
    return sorted(set(out))


def candidates(picture: Path, max_bag_area: float = 0.3):
    """(name, image) for every bag-free view of one training picture. `strip0` is the largest strip, the
    one build_dataset.py puts in neg_train/ as `_crop`; `masked` is its painted twin there."""
    img = cv2.imread(str(picture))
    if img is None:
        return
    polys = real_polygons(label_of(picture))
    stem = negative_stem(picture.name)
    for k, crop in enumerate(bag_free_strips(img, polys)):
        if crop is not None:
            yield f"{stem}_strip{k}", crop
    if polys and bag_area(polys) <= max_bag_area:  # a painted-over pile is no real scene
        yield f"{stem}_masked", bags_masked_out(img, polys)


def bagless_sim(data: Path):
    for label in sorted((data / "sim_train" / "labels").glob("*.txt")):
        if not any(row.split()[:1] == ["0"] for row in label.read_text().splitlines()):
            img = cv2.imread(str(data / "sim_train" / "images" / f"{label.stem}.jpg"))
            if img is not None:
                yield label.stem, img


def neg_train_name(view: str) -> str:
    """The file build_dataset.py wrote for this view in neg_train/ (if it wrote one)."""
    stem, kind = view.rsplit("_", 1)
    return f"neg_{stem}_{'crop' if kind == 'strip0' else kind}.jpg"


def view_of_neg_train(filename: str) -> str:
    """The view name of a neg_train/ file (neg_train_name's inverse)."""
    stem, kind = Path(filename).stem[len("neg_"):].rsplit("_", 1)
    return f"{stem}_{'strip0' if kind == 'crop' else kind}"


def unmined_training_negatives(data: Path, mined: list) -> list[tuple[str, np.ndarray, list]]:
    """The neg_train/ pictures the model did not fire on: reviewed too, since a bag it has learned to
    overlook there is the worst lesson of all."""
    done = {name for name, _, _ in mined}
    out = []
    for path in sorted((data / "neg_train" / "images").iterdir()):
        view = view_of_neg_train(path.name)
        img = cv2.imread(str(path))
        if view not in done and img is not None:
            out.append((view, img, []))
    return out


def mine(data: Path, det) -> tuple[int, list[tuple[str, np.ndarray, list]]]:
    """(candidates seen, [(view name, image, its garbage_bag detections)] for every view the model fires on)."""
    seen, mined = 0, []

    def views():
        for picture in source_pictures(data):
            yield from candidates(picture)
        yield from bagless_sim(data)

    for name, img in views():
        seen += 1
        found = [d for d in det.detect(img) if d.cls == "garbage_bag"]
        if found:
            mined.append((name, img, found))
        if seen % 200 == 0:
            print(f"  {seen} candidates, {len(mined)} mined", flush=True)
    return seen, mined


def emptied(folder: Path) -> Path:
    """folder with empty images/ and labels/: a new review replaces the last one's pictures."""
    for sub in ("images", "labels"):
        (folder / sub).mkdir(parents=True, exist_ok=True)
        for old in (folder / sub).iterdir():
            old.unlink()
    return folder


def apply_review(data: Path, mined: list, verdicts: dict[str, str], copies: int) -> dict:
    """neg_hard/ from the views marked none; neg_train_reviewed/ without the ones marked bag; data_hard.yaml."""
    out = emptied(data / "neg_hard")
    counts = {"hard": 0, "bag": 0, "dropped_from_neg_train": 0}
    unreviewed = set()
    for name, img, _ in mined:
        verdict = verdicts.get(name)
        if verdict is None:
            unreviewed.add(name)
        elif verdict == "bag":
            counts["bag"] += 1
        else:
            counts["hard"] += 1
            for k in range(copies):
                cv2.imwrite(str(out / "images" / f"hard_{name}_{k}.jpg"), img, [cv2.IMWRITE_JPEG_QUALITY, 92])
                (out / "labels" / f"hard_{name}_{k}.txt").write_text("")
    # a negative that shows a bag teaches the model to miss bags: link neg_train/ without those
    has_bag = {neg_train_name(v) for v, verdict in verdicts.items() if verdict == "bag" and not v.startswith("sim_")}
    reviewed = emptied(data / "neg_train_reviewed")
    for img in sorted((data / "neg_train" / "images").iterdir()):
        if img.name in has_bag:
            counts["dropped_from_neg_train"] += 1
            continue
        if view_of_neg_train(img.name) not in verdicts:
            unreviewed.add(view_of_neg_train(img.name))
        (reviewed / "images" / img.name).symlink_to(img.resolve())
        (reviewed / "labels" / f"{img.stem}.txt").write_text("")
    text = (data / "data.yaml").read_text().replace("  - neg_train/images\n", "  - neg_train_reviewed/images\n")
    head, rest = text.split("\nval:", 1)
    (data / "data_hard.yaml").write_text(f"{head}\n  - neg_hard/images\nval:{rest}")
    return counts | {"unreviewed": len(unreviewed)}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/garbage"), help="dataset folder from build_dataset.py")
    ap.add_argument("--model", type=Path, default=Path("models/garbage-yolo.onnx"), help="ONNX model to mine with")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--conf", type=float, default=0.25, help="a garbage_bag at this confidence makes a view mined")
    ap.add_argument("--review", type=Path, default=None, help="the filled-in verdicts (review.csv) to train by")
    ap.add_argument("--copies", type=int, default=3, help="times each reviewed hard negative is listed")
    args = ap.parse_args(argv)
    data: Path = args.data
    if not (data / "data.yaml").is_file():
        print(f"mine_negatives: {data / 'data.yaml'} not found: build the dataset first (models/build_dataset.py)",
              file=sys.stderr)
        return 2
    try:
        verdicts = read_review(args.review) if args.review else None
    except (OSError, ValueError, KeyError) as e:
        print(f"mine_negatives: {e}", file=sys.stderr)
        return 2
    det = load_detector("onnx", args.model, imgsz=args.imgsz, conf=args.conf, iou=0.5, threads=2)
    seen, mined = mine(data, det)
    kinds: dict[str, int] = {}
    for name, _, _ in mined:
        kind = "sim" if name.startswith("sim_") else name.rsplit("_", 1)[1].rstrip("0123456789")
        kinds[kind] = kinds.get(kind, 0) + 1
    report = {"model": str(args.model), "conf": args.conf, "candidates": seen, "mined": len(mined), "by_kind": kinds}
    if verdicts is None:
        rest = unmined_training_negatives(data, mined)
        sheets = write_sheets(mined + rest, data / "neg_hard" / "review")
        print(json.dumps(report), flush=True)
        print(f"{len(mined)} of {seen} views mined, and {len(rest)} training negatives it did not fire on: look at "
              f"the {sheets} sheets in {data / 'neg_hard' / 'review'}, fill in review.csv (none: no bag anywhere in "
              f"the picture; bag), then run again with --review", flush=True)
        return 0
    report |= apply_review(data, mined, verdicts, args.copies) | {"copies": args.copies}
    (data / "neg_hard" / "mined.json").write_text(json.dumps(report, indent=2) + "\n")
    print(json.dumps(report), flush=True)
    print(f"hard negatives: {report['hard']} views x {args.copies}; {report['dropped_from_neg_train']} training "
          f"negatives showing a bag left out; train on {data / 'data_hard.yaml'}", flush=True)
    if report["unreviewed"]:
        print(f"mine_negatives: {report['unreviewed']} views have no verdict in {args.review} (mined ones are not "
              f"trained on, training negatives stay): run without --review for sheets of them", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
