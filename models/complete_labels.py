#!/usr/bin/env python3
"""Missing bag labels in the real pictures: proposed by a model, confirmed by a person.

    python models/complete_labels.py --data data/garbage --model models/garbage-yolo.onnx
    # look at data/garbage/labels_added/review/sheet_*.png, fill in review.csv, keep it as
    # models/labels-review.csv, then
    python models/complete_labels.py --data data/garbage --review models/labels-review.csv

The real sets label a pile's bags only in part. Training on those labels teaches a model that an
unlabelled bag is floor: it learns to miss bags. The first run reports, for every training
picture behind `real_train/` and `truck_train/`, each garbage_bag the model sees at `--conf`
that no labelled bag explains (IoU below `--iou` with each, and less than half of it inside
one): these are the candidates. The numbered sheets show each candidate cropped with its
surroundings and its box drawn; `review.csv` lists them in that order with an empty verdict:
`bag` where the box holds a bag the labels missed, `none` where it does not (a blur, a shadow,
half a bag, a box around several). Rows not yet reviewed may be deleted from the file: they add
nothing. A candidate's name carries its picture and its box, so the
filled-in file alone rebuilds the labels: the second run needs no model.

With `--review`, the boxes marked `bag` are added to the labels of every linked copy of their
picture in `real_train_completed/` and `truck_train_completed/` (images linked, labels
written), and `data_complete.yaml` (from `data_hard.yaml` where mine_negatives.py wrote one,
else `data.yaml`) trains on those folders instead. Validation and held-out pictures are never
read: their labels stay as published.

With `--eval` the same proposals are made in the real validation and held-out pictures
(`real_val/`, `real_test/`, `truck_val/`, `truck_test/`), by every `--model` given (a bag two
models see is one candidate), onto sheets in `labels_added/review_eval/`. Their filled-in review,
kept as `models/labels-review-eval.csv`, is never written into a label file: evaluate.py reads it
and reports the real and truck figures a second time with the confirmed bags added.
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import Detection, nms  # noqa: E402
from edge.vision.zones import box_area, intersection  # noqa: E402
from models.build_dataset import yolo_line  # noqa: E402
from models.evaluate import iou as box_iou, read_labels  # noqa: E402
from models.review_sheets import confirmed_boxes, read_review, view_name, write_sheets  # noqa: E402

TRAIN_LINKED = ("real_train", "truck_train")  # build_dataset.py's links to the real training pictures
EVAL_LINKED = ("real_val", "real_test", "truck_val", "truck_test")  # the real validation and held-out ones
CONTEXT = 0.6  # each side of a candidate's crop shows this much of the box's size again


def unexplained(found, labelled, iou: float = 0.3, inside: float = 0.5) -> list:
    """The detections no labelled box explains: IoU below `iou` with every one, and less than
    `inside` of the detection within one (a part of a labelled pile is no missing bag)."""
    out = []
    for d in found:
        a = box_area(d.xyxy)
        if a > 0 and not any(box_iou(d.xyxy, b) >= iou or intersection(d.xyxy, b) / a >= inside for b in labelled):
            out.append(d)
    return out


def crop_around(img: np.ndarray, xyxy, conf: float) -> tuple[np.ndarray, Detection]:
    """The candidate with its surroundings (4:3 like the sheet's tiles) and its box in the crop."""
    h, w = img.shape[:2]
    x1, y1, x2, y2 = xyxy
    cw, ch = (x2 - x1) * (1 + 2 * CONTEXT), (y2 - y1) * (1 + 2 * CONTEXT)
    cw, ch = max(cw, ch * 4 / 3, 64.0), max(ch, cw * 3 / 4, 48.0)
    cx, cy = (x1 + x2) / 2, (y1 + y2) / 2
    a, b = int(max(0, cx - cw / 2)), int(max(0, cy - ch / 2))
    c, d = int(min(w, cx + cw / 2)), int(min(h, cy + ch / 2))
    return img[b:d, a:c].copy(), Detection("garbage_bag", conf, (x1 - a, y1 - b, x2 - a, y2 - b))


def propose(data: Path, dets, iou: float = 0.3, folders: tuple[str, ...] = TRAIN_LINKED
            ) -> tuple[int, list[tuple[str, np.ndarray, list]]]:
    """(pictures seen, [(candidate name, crop, [its box])]) for every unexplained garbage_bag that
    one of the models `dets` sees; where two propose the same bag (IoU above 0.5) the more
    confident box stands."""
    labels = {}
    for folder in folders:
        images = data / folder / "images"
        for img in sorted(images.iterdir()) if images.is_dir() else []:
            labels.setdefault(img.resolve(), data / folder / "labels" / f"{img.stem}.txt")
    pictures = sorted(labels)  # each distinct picture once, however often it is listed
    out = []
    for n, picture in enumerate(pictures, 1):
        img = cv2.imread(str(picture))
        if img is None:
            continue
        h, w = img.shape[:2]
        labelled = read_labels(labels[picture], w, h)
        found = [d for det in dets for d in unexplained([d for d in det.detect(img) if d.cls == "garbage_bag"], labelled, iou)]
        keep = nms(np.array([d.xyxy for d in found]).reshape(-1, 4), np.array([d.conf for d in found]), 0.5)
        for d in (found[i] for i in keep):
            crop, box = crop_around(img, d.xyxy, d.conf)
            out.append((view_name(picture.name, d.xyxy, w, h), crop, [box]))
        if n % 200 == 0:
            print(f"  {n} pictures, {len(out)} candidates", flush=True)
    return len(pictures), out


def apply_review(data: Path, verdicts: dict[str, str]) -> dict:
    """The *_completed/ folders and data_complete.yaml; counts of what was added."""
    added = {picture: [yolo_line(*box) for box in boxes] for picture, boxes in confirmed_boxes(verdicts).items()}
    counts = {"bag": sum(map(len, added.values())), "none": sum(v == "none" for v in verdicts.values()),
              "pictures_completed": 0, "linked": 0}
    seen = set()
    for folder in TRAIN_LINKED:
        src, dst = data / folder, data / f"{folder}_completed"
        if not (src / "images").is_dir():
            continue
        for sub in ("images", "labels"):
            (dst / sub).mkdir(parents=True, exist_ok=True)
            for old in (dst / sub).iterdir():  # a new review replaces the last one's labels
                old.unlink()
        for img in sorted((src / "images").iterdir()):
            target = img.resolve()
            label = src / "labels" / f"{img.stem}.txt"
            lines = [ln for ln in (label.read_text().split("\n") if label.is_file() else []) if ln.strip()]
            extra = added.get(target.name, [])
            if extra and target.name not in seen:
                seen.add(target.name)
                counts["pictures_completed"] += 1
            (dst / "images" / img.name).symlink_to(target)
            (dst / "labels" / f"{img.stem}.txt").write_text("".join(f"{ln}\n" for ln in lines + extra))
            counts["linked"] += 1
    counts["pictures_not_found"] = len(set(added) - seen)
    base = data / "data_hard.yaml" if (data / "data_hard.yaml").is_file() else data / "data.yaml"
    head, rest = base.read_text().split("\nval:", 1)
    for folder in TRAIN_LINKED:
        head = head.replace(f"  - {folder}/images\n", f"  - {folder}_completed/images\n")
        if head.endswith(f"  - {folder}/images"):
            head = head[: -len(f"{folder}/images")] + f"{folder}_completed/images"
    (data / "data_complete.yaml").write_text(f"{head}\nval:{rest}")
    return counts | {"from": base.name}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/garbage"), help="dataset folder from build_dataset.py")
    ap.add_argument("--model", type=Path, action="append", default=None,
                    help="ONNX model that proposes (repeat: several models propose; default models/garbage-yolo.onnx)")
    ap.add_argument("--eval", action="store_true",
                    help="propose in the real validation and held-out pictures instead (their review is read by "
                         "evaluate.py --completions; their labels are never rewritten)")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--conf", type=float, default=0.3, help="a garbage_bag at this confidence is proposed")
    ap.add_argument("--iou", type=float, default=0.3, help="a proposal this close to a labelled bag is that bag")
    ap.add_argument("--review", type=Path, default=None, help="the filled-in verdicts (review.csv) to add labels by")
    args = ap.parse_args(argv)
    data: Path = args.data
    if not (data / "data.yaml").is_file():
        print(f"complete_labels: {data / 'data.yaml'} not found: build the dataset first (models/build_dataset.py)",
              file=sys.stderr)
        return 2
    if args.review and args.eval:
        print("complete_labels: --review adds to the training labels only; evaluate.py --completions reads the "
              "review of the evaluation pictures", file=sys.stderr)
        return 2
    if args.review:
        try:
            verdicts = read_review(args.review)
            report = apply_review(data, verdicts)
        except (OSError, ValueError, KeyError) as e:
            print(f"complete_labels: {e}", file=sys.stderr)
            return 2
        (data / "labels_added.json").write_text(json.dumps(report, indent=2) + "\n")
        print(json.dumps(report), flush=True)
        print(f"{report['bag']} bag labels added to {report['pictures_completed']} pictures; "
              f"train on {data / 'data_complete.yaml'}", flush=True)
        if report["pictures_not_found"]:
            print(f"complete_labels: {report['pictures_not_found']} reviewed pictures are not in this dataset's "
                  f"training folders (another split?): their labels were not added", file=sys.stderr)
        return 0
    from edge.vision.detector import load_detector

    models = args.model or [Path("models/garbage-yolo.onnx")]
    dets = [load_detector("onnx", m, imgsz=args.imgsz, conf=args.conf, iou=0.5, threads=2) for m in models]
    folders, which, out = (EVAL_LINKED, "evaluation", "review_eval") if args.eval else (TRAIN_LINKED, "training", "review")
    seen, found = propose(data, dets, args.iou, folders)
    sheets = write_sheets(found, data / "labels_added" / out, cols=6, rows=4, tile_size=(300, 225))  # crops: small tiles do
    print(json.dumps({"model": [str(m) for m in models], "conf": args.conf, "iou": args.iou, "pictures": seen,
                      "candidates": len(found), "folders": list(folders)}), flush=True)
    then = ("keep it as models/labels-review-eval.csv: evaluate.py reads it (--completions)" if args.eval
            else "then run again with --review")
    print(f"{len(found)} candidates in {seen} {which} pictures: look at the {sheets} sheets in "
          f"{data / 'labels_added' / out}, fill in review.csv (bag: a bag the labels missed; none), {then}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
