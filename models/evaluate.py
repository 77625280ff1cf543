#!/usr/bin/env python3
"""Held-out metrics of a detector model, as the model card reports them.

    YOLO_OFFLINE=1 python models/evaluate.py --model models/garbage-yolo.onnx --data data/garbage

Every figure is `garbage_bag` at IoU 0.5 with our onnx backend (the one the box runs), on
sets no training picture and no weight choice ever saw:
1. simulated held-out scenes (`sim_test/`, seeds never used in training): AP50;
2. real held-out photos (`real_test/`, source photos never used in training) and held-out
   truck frames (`truck_test/`, whole recordings by time): AP50, precision and recall at the
   deployed confidence, the best recall reachable at precision >= 0.80 / 0.85;
3. clean pictures (`clean_test/`, held-out real pictures with their bags painted out, and
   bag-free crops of them): the share with a false bag at the deployed confidence; and the
   same share among those a person reviewed as holding no bag (`models/clean-review.csv`:
   the sets do not label every bag of a pile, so a fifth of these pictures still show one).
4. with `models/labels-review-eval.csv` there (`--completions`): the real and truck figures again,
   with the bags a person found missing from those sets' labels added (the published labels mark
   a pile's bags only in part, so every unlabelled bag a model finds counts against its precision).
   The candidates come from models (complete_labels.py --eval), so a bag no model proposed stays
   unlabelled: the published figures stay the headline, these say how far labels explain the gap.
`--merge flip` or `--merge OTHER.onnx` (`:max` or `:mean`) measures two views of each picture
merged (models/view_merge.py: test-time mirroring, a two-model ensemble); the product runs one.
`--full-sim` adds per-class sim mAP (ultralytics' validator). Several `--model`s are compared
side by side in one run; prints JSON and a markdown table, `--json FILE` keeps the numbers.

`--split val` reads the validation sets instead (`sim_val/`, `real_val/`, `truck_val/`, and
`clean_val/`, their pictures' clean twins, for the false-bag rate): the only figures a choice
may be made on (which checkpoint, which input size), so that the held-out ones stay unseen
until the choice is made.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from edge.config.vision import Verifier  # noqa: E402
from edge.vision.detector import load_detector  # noqa: E402
from edge.vision.verifier import CropVerifier, VerifiedDetector  # noqa: E402
from edge.vision.zones import box_area, intersection  # noqa: E402
from models.review_sheets import confirmed_boxes, read_review  # noqa: E402
from models.view_merge import HOWS, MergedDetector  # noqa: E402

CLASSES = ("garbage_bag", "bin", "person")


def iou(a, b) -> float:
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def read_labels(label: Path, w: int, h: int, cls: int = 0) -> list[tuple[float, float, float, float]]:
    out = []
    if label.is_file():
        for row in label.read_text().split("\n"):
            v = row.split()
            if len(v) == 5 and int(v[0]) == cls:
                cx, cy, bw, bh = (float(x) for x in v[1:])
                out.append(((cx - bw / 2) * w, (cy - bh / 2) * h, (cx + bw / 2) * w, (cy + bh / 2) * h))
    return out


def drop_inside(dets: list, share: float | None) -> list:
    """(confidence, box) detections without those lying `share` or more inside a more confident
    one (a second box within a boxed bag); None keeps all. The most confident box always stays,
    so the false-bag rates of clean pictures cannot change."""
    if share is None:
        return dets
    kept: list = []
    for conf, box in sorted(dets, key=lambda d: -d[0]):
        area = box_area(box)
        if area > 0 and any(intersection(box, k) / area >= share for _, k in kept):
            continue
        kept.append((conf, box))
    return kept


def detector_of(model: Path, imgsz: int, conf: float, nms_iou: float, merge: tuple[str, str] | None = None,
                verify: tuple[str, float] | None = None):
    """Our onnx backend's detector for model; with merge (second view, how), two views merged
    (models/view_merge.py): the second view "flip" (the same model on the mirrored picture) or
    another model file. With verify (verifier file, weight), each bag rescored by the crop
    verifier as the box does it (edge/vision/verifier.py)."""
    det = load_detector("onnx", model, imgsz=imgsz, conf=conf, iou=nms_iou, threads=2)
    if merge is not None:
        view, how = merge
        second = None if view == "flip" else load_detector("onnx", Path(view), imgsz=imgsz, conf=conf, iou=nms_iou, threads=2)
        det = MergedDetector(det, second, how)
    if verify is not None:
        det = VerifiedDetector(det, CropVerifier(verify[0], threads=2), verify[1], conf)
    return det


def detected(folder: Path, model: Path, imgsz: int, conf_floor: float = 0.05, nms_iou: float = 0.5,
             inside: float | None = None, merge: tuple[str, str] | None = None,
             verify: tuple[str, float] | None = None) -> list[dict]:
    """Per picture of folder: its name, its source file's name, its labelled bags and the detected
    ones (confidence, box; drop_inside(…, inside)). One inference per picture: every way of
    scoring them reads this."""
    det = detector_of(model, imgsz, conf_floor, nms_iou, merge, verify)
    pictures = []
    for img_path in sorted((folder / "images").iterdir()):
        img = cv2.imread(str(img_path))
        if img is None:
            continue
        h, w = img.shape[:2]
        pictures.append({"name": img_path.name, "source": img_path.resolve().name, "size": (w, h),
                         "gts": read_labels(folder / "labels" / (img_path.stem + ".txt"), w, h),
                         "dets": drop_inside([(d.conf, d.xyxy) for d in det.detect(img) if d.cls == "garbage_bag"], inside)})
    return pictures


def scored(pictures: list[dict], completions: dict[str, list] | None = None) -> list[dict]:
    """Per picture its garbage_bag count and each detected bag as (confidence, whether it matched a
    label at IoU 0.5), matched greedily from the most confident. `completions` (source file name ->
    normalized boxes a person confirmed, read_completions) join the published labels."""
    out = []
    for p in pictures:
        w, h = p["size"]
        gts = p["gts"] + [(x1 * w, y1 * h, x2 * w, y2 * h) for x1, y1, x2, y2 in (completions or {}).get(p["source"], [])]
        used = [False] * len(gts)
        marks = []
        for conf, box in sorted(p["dets"], key=lambda d: -d[0]):
            best, bi = 0.0, -1
            for i, g in enumerate(gts):
                if not used[i]:
                    v = iou(box, g)
                    if v > best:
                        best, bi = v, i
            if best >= 0.5:
                used[bi] = True
            marks.append((conf, best >= 0.5))
        out.append({"name": p["name"], "gt": len(gts), "scored": marks})
    return out


def read_completions(path: Path) -> dict[str, list]:
    """The bags a person confirmed in the validation and held-out pictures (complete_labels.py --eval,
    then review.csv filled in): source file name -> normalized boxes."""
    return confirmed_boxes(read_review(path))


def pr_curve(pictures: list[dict]) -> dict:
    """Precision/recall of garbage_bag for every confidence threshold, and AP50 (all-point interpolation)."""
    scored = sorted((s for p in pictures for s in p["scored"]), key=lambda s: -s[0])
    n_gt = sum(p["gt"] for p in pictures)
    tp = np.cumsum([s[1] for s in scored]) if scored else np.zeros(0)
    fp = np.cumsum([not s[1] for s in scored]) if scored else np.zeros(0)
    confs = np.array([s[0] for s in scored])
    prec = tp / np.maximum(tp + fp, 1)
    rec = tp / max(n_gt, 1)
    ap = 0.0
    if len(rec):
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[1.0], prec, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.where(mrec[1:] != mrec[:-1])[0]
        ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    return {"images": len(pictures), "gt": n_gt, "confs": confs, "prec": prec, "rec": rec, "ap50": ap}


def pr_sweep(folder: Path, model: Path, imgsz: int, nms_iou: float = 0.5, inside: float | None = None,
             merge: tuple[str, str] | None = None, verify: tuple[str, float] | None = None) -> dict:
    return pr_curve(scored(detected(folder, model, imgsz, nms_iou=nms_iou, inside=inside, merge=merge, verify=verify)))


def at_conf(sweep: dict, conf: float) -> dict:
    k = int(np.sum(sweep["confs"] >= conf))
    if k == 0:
        return {"conf": conf, "precision": None, "recall": 0.0}
    return {"conf": conf, "precision": round(float(sweep["prec"][k - 1]), 3), "recall": round(float(sweep["rec"][k - 1]), 3)}


def best_recall_at_precision(sweep: dict, min_p: float = 0.8) -> dict:
    ok = np.where(sweep["prec"] >= min_p)[0]
    if not len(ok):
        return {"min_precision": min_p, "recall": 0.0, "conf": None, "precision": None}
    k = ok[np.argmax(sweep["rec"][ok])]
    return {"min_precision": min_p, "recall": round(float(sweep["rec"][k]), 3),
            "precision": round(float(sweep["prec"][k]), 3), "conf": round(float(sweep["confs"][k]), 3)}


def sim_map(model: Path, data_yaml: Path, imgsz: int) -> dict:
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    m = YOLO(str(model), task="detect")
    res = m.val(data=str(data_yaml), imgsz=imgsz, batch=1 if model.suffix == ".onnx" else 16, device="cpu",
                plots=False, verbose=False, workers=0, conf=0.001, iou=0.6)
    out = {}
    for i, c in enumerate(res.box.ap_class_index):
        name = CLASSES[int(c)]
        out[name] = {"mAP50": round(float(res.box.all_ap[i, 0]), 4), "mAP50_95": round(float(res.box.all_ap[i].mean()), 4)}
    out["all"] = {"mAP50": round(float(res.box.map50), 4), "mAP50_95": round(float(res.box.map), 4)}
    return out


def clean_rate(folder: Path, model: Path, imgsz: int, conf: float, review: dict[str, str] | None = None,
               nms_iou: float = 0.5, merge: tuple[str, str] | None = None, verify: tuple[str, float] | None = None) -> dict:
    """False bags on pictures with no bag: the share of pictures with at least one garbage_bag at `conf`.
    With a review (file name -> none/bag, models/review_sheets.py), also the share among the pictures a
    person saw no bag in: a painted-out picture may still show a bag the labels missed."""
    det = detector_of(model, imgsz, conf, nms_iou, merge, verify)
    found: dict[str, int] = {}
    for img_path in sorted((folder / "images").iterdir()):
        img = cv2.imread(str(img_path))
        if img is not None:
            found[img_path.name] = sum(1 for d in det.detect(img) if d.cls == "garbage_bag")

    def share(names: list[str]) -> dict:
        hit = sum(found[n] > 0 for n in names)
        return {"images": len(names), "with_false_bag": hit,
                "false_bag_rate": round(hit / len(names), 3) if names else None, "false_boxes": sum(found[n] for n in names)}

    out = share(list(found))
    if review:
        clean = [n for n in found if review.get(n) == "none"]
        out["reviewed"] = share(clean) | {"left_out_showing_a_bag": sum(review.get(n) == "bag" for n in found),
                                          "unreviewed": sum(n not in review for n in found)}
    return out


def bag_figures(sw: dict, conf: float) -> dict:
    return {"images": sw["images"], "bags": sw["gt"], "ap50": round(sw["ap50"], 4), "at_conf": at_conf(sw, conf),
            "best_recall_at_p80": best_recall_at_precision(sw, 0.8), "best_recall_at_p85": best_recall_at_precision(sw, 0.85)}


def _settings(model: Path, imgsz: int, conf: float, nms_iou: float, inside: float | None,
              merge: tuple[str, str] | None, verify: tuple[str, float] | None = None) -> dict:
    """What a report was measured with: its column head (_column) and the JSON say it."""
    return {"model": str(model), "imgsz": imgsz, "conf": conf, "nms_iou": nms_iou, "drop_inside": inside,
            "merge": list(merge) if merge else None, "verify": list(verify) if verify else None}


def evaluate(model: Path, data: Path, imgsz: int, conf: float, full_sim: bool, clean_review: dict | None = None,
             nms_iou: float = 0.5, completions: dict | None = None, inside: float | None = None,
             merge: tuple[str, str] | None = None, verify: tuple[str, float] | None = None) -> dict:
    """Every held-out figure of one model file (garbage_bag with our onnx backend; per-class sim mAP with
    --full-sim). With completions, the real and truck figures again with the confirmed bags added to
    the labels (`…_completed`), from the same detections."""
    report = _settings(model, imgsz, conf, nms_iou, inside, merge, verify)
    labels = {"": None} | ({"_completed": completions} if completions is not None else {})
    if full_sim:
        report["sim_map"] = {"all": sim_map(model, data / "sim_test.yaml", imgsz)}
    if (data / "sim_test").is_dir():
        report["sim_heldout"] = bag_figures(pr_sweep(data / "sim_test", model, imgsz, nms_iou, inside, merge, verify), conf)
    real = data / "real_test"
    if real.is_dir():
        manifest = json.loads((data / "manifest.json").read_text()) if (data / "manifest.json").is_file() else {}
        from_train = set(manifest.get("real", {}).get("heldout_from_train_split", []))
        subsets = {"all": None,
                   "valid_test_photos": lambda n: n[len("real_"):].split(".rf.")[0] not in from_train,
                   "train_split_sources": lambda n: n[len("real_"):].split(".rf.")[0] in from_train}
        found = detected(real, model, imgsz, nms_iou=nms_iou, inside=inside, merge=merge, verify=verify)
        for suffix, added in labels.items():
            pictures = scored(found, added)
            report["real_heldout" + suffix] = {}
            for name, only in subsets.items():
                chosen = [p for p in pictures if only is None or only(p["name"])]
                if chosen:
                    report["real_heldout" + suffix][name] = bag_figures(pr_curve(chosen), conf)
    if (data / "truck_test").is_dir():
        found = detected(data / "truck_test", model, imgsz, nms_iou=nms_iou, inside=inside, merge=merge, verify=verify)
        for suffix, added in labels.items():
            report["truck_heldout" + suffix] = bag_figures(pr_curve(scored(found, added)), conf)
    if (data / "clean_test").is_dir():
        report["clean_heldout"] = clean_rate(data / "clean_test", model, imgsz, conf, clean_review, nms_iou, merge, verify)
    return report


VAL_SETS = ("sim_val", "real_val", "truck_val")
COMPLETED_SETS = ("real_val", "truck_val")  # the simulator labels every bag: nothing to complete there


def evaluate_validation(model: Path, data: Path, imgsz: int, conf: float, clean_review: dict | None = None,
                        nms_iou: float = 0.5, completions: dict | None = None, inside: float | None = None,
                        merge: tuple[str, str] | None = None, verify: tuple[str, float] | None = None) -> dict:
    """The same garbage_bag figures on the validation sets (for choosing; never reported as held out)."""
    report = _settings(model, imgsz, conf, nms_iou, inside, merge, verify) | {"split": "val"}
    for name in VAL_SETS:
        if (data / name).is_dir():
            found = detected(data / name, model, imgsz, nms_iou=nms_iou, inside=inside, merge=merge, verify=verify)
            report[name] = bag_figures(pr_curve(scored(found)), conf)
            if completions is not None and name in COMPLETED_SETS:
                report[name + "_completed"] = bag_figures(pr_curve(scored(found, completions)), conf)
    if (data / "clean_val").is_dir():
        report["clean_val"] = clean_rate(data / "clean_val", model, imgsz, conf, clean_review, nms_iou, merge, verify)
    return report


def _cell(r: dict, *keys, fmt="{:.3f}") -> str:
    """A nested figure of one report, or a dash where that set was not there."""
    for k in keys:
        r = r.get(k) if isinstance(r, dict) else None
    return "—" if r is None else fmt.format(r)


def _markdown(title: str, column, rows: list[tuple[str, tuple]], reports: list[dict]) -> str:
    """Models side by side: a column per report (headed by column(report)), a row per (label, keys)."""
    lines = [f"| {title} | " + " | ".join(column(r) for r in reports) + " |", "| --- |" + " --- |" * len(reports)]
    lines += [f"| {label} | " + " | ".join(_cell(r, *keys) for r in reports) + " |" for label, keys in rows]
    return "\n".join(lines)


def _column(r: dict) -> str:
    """A report's column head: the file, its input size, and the NMS IoU, --drop-inside and --merge where not the default."""
    nms, inside, merge, verify = r.get("nms_iou", 0.5), r.get("drop_inside"), r.get("merge"), r.get("verify")
    return (f"{Path(r['model']).name} @{r['imgsz']}" + (f" NMS {nms}" if nms != 0.5 else "")
            + (f" inside {inside}" if inside is not None else "")
            + (f" + {Path(merge[0]).name} ({merge[1]})" if merge else "")
            + (f" verified by {Path(verify[0]).name} (w {verify[1]:g})" if verify else ""))


def validation_table(reports: list[dict]) -> str:
    sets = [*VAL_SETS] + [f"{n}_completed" for n in COMPLETED_SETS if any(f"{n}_completed" in r for r in reports)]
    rows = [(f"{name.replace('_completed', ', labels completed')}: {label}", (name, *keys)) for name in sets
            for label, keys in (("AP50", ("ap50",)), ("best recall at P ≥ 0.85", ("best_recall_at_p85", "recall")))]
    rows += [("clean_val: pictures with a false bag", ("clean_val", "false_bag_rate")),
             ("clean_val: same, pictures reviewed bag-free", ("clean_val", "reviewed", "false_bag_rate"))]
    return _markdown("garbage_bag, validation", _column, rows, reports)


def table(reports: list[dict]) -> str:
    """One markdown table, the models side by side (what the model card shows)."""
    rows = [
        ("sim held-out: garbage_bag AP50", ("sim_heldout", "ap50")),
        ("real held-out (all): AP50", ("real_heldout", "all", "ap50")),
        ("real held-out (all): best recall at P ≥ 0.85", ("real_heldout", "all", "best_recall_at_p85", "recall")),
        ("real valid+test photos: AP50", ("real_heldout", "valid_test_photos", "ap50")),
        ("real valid+test photos: best recall at P ≥ 0.85", ("real_heldout", "valid_test_photos", "best_recall_at_p85", "recall")),
        ("truck held-out: AP50", ("truck_heldout", "ap50")),
        ("truck held-out: best recall at P ≥ 0.85", ("truck_heldout", "best_recall_at_p85", "recall")),
        ("real at deployed conf: precision", ("real_heldout", "all", "at_conf", "precision")),
        ("real at deployed conf: recall", ("real_heldout", "all", "at_conf", "recall")),
        ("truck at deployed conf: precision", ("truck_heldout", "at_conf", "precision")),
        ("truck at deployed conf: recall", ("truck_heldout", "at_conf", "recall")),
        ("clean pictures with a false bag", ("clean_heldout", "false_bag_rate")),
        ("same, pictures reviewed bag-free", ("clean_heldout", "reviewed", "false_bag_rate")),
    ]
    if any("real_heldout_completed" in r for r in reports):
        rows += [
            ("real held-out (all), labels completed: AP50", ("real_heldout_completed", "all", "ap50")),
            ("same, best recall at P ≥ 0.85", ("real_heldout_completed", "all", "best_recall_at_p85", "recall")),
            ("real valid+test photos, labels completed: AP50", ("real_heldout_completed", "valid_test_photos", "ap50")),
            ("same, best recall at P ≥ 0.85",
             ("real_heldout_completed", "valid_test_photos", "best_recall_at_p85", "recall")),
            ("truck held-out, labels completed: AP50", ("truck_heldout_completed", "ap50")),
            ("same, best recall at P ≥ 0.85", ("truck_heldout_completed", "best_recall_at_p85", "recall")),
        ]
    return _markdown("garbage_bag", lambda r: _column(r) + f" (conf {r['conf']})", rows, reports)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="held-out metrics of one or more detector files, side by side")
    ap.add_argument("--model", type=Path, action="append", help="ONNX model (repeat to compare; default models/garbage-yolo.onnx)")
    ap.add_argument("--data", type=Path, default=Path("data/garbage"), help="dataset folder from build_dataset.py")
    ap.add_argument("--imgsz", type=int, action="append",
                    help="input size, one per --model or one for all (default 416, the shipped model's); repeat a --model to compare sizes")
    ap.add_argument("--split", choices=("heldout", "val"), default="heldout",
                    help="val: the validation sets, for choosing a checkpoint or size (default: held-out sets)")
    ap.add_argument("--conf", type=float, action="append",
                    help="deployed confidence threshold (vision.conf), one per --model or one for all (default 0.4)")
    ap.add_argument("--iou", type=float, action="append",
                    help="NMS IoU (vision.iou), one per --model or one for all (default 0.5)")
    ap.add_argument("--full-sim", action="store_true", help="also per-class sim mAP with ultralytics' validator")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    ap.add_argument("--clean-review", type=Path, default=HERE / "clean-review.csv",
                    help="verdicts on the clean pictures (models/review_sheets.py); also the rate on the bag-free ones")
    ap.add_argument("--completions", type=Path, default=HERE / "labels-review-eval.csv",
                    help="bags a person found missing from the real validation and held-out labels "
                         "(complete_labels.py --eval): the real and truck figures again with them added")
    ap.add_argument("--drop-inside", type=float, action="append",
                    help="drop each box lying this share or more inside a more confident one (one per --model "
                         "or one for all; 0 keeps every box, the product's behaviour)")
    ap.add_argument("--merge", action="append", metavar="VIEW[:HOW]",
                    help="merge a second view into each picture's detections: flip (the model on the mirrored "
                         "picture) or another ONNX file; HOW max or mean (default mean; models/view_merge.py). One "
                         "per --model or one for all; 'none' runs one view")
    ap.add_argument("--verify", action="append", metavar="VERIFIER[:WEIGHT]",
                    help="rescore each bag with a crop verifier (edge/vision/verifier.py), WEIGHT its share of the "
                         "blended score (default vision.verifier.weight's default). One per --model or one for all; 'none' runs the detector alone")
    args = ap.parse_args(argv)
    models = args.model or [Path("models/garbage-yolo.onnx")]
    def per_model(values: list | None, default, flag: str) -> list:
        values = values or [default]
        if len(values) not in (1, len(models)):
            ap.error(f"give one {flag}, or one per --model")
        return values * len(models) if len(values) == 1 else values

    confs = per_model(args.conf, 0.4, "--conf")
    sizes = per_model(args.imgsz, 416, "--imgsz")
    ious = per_model(args.iou, 0.5, "--iou")
    insides = [v or None for v in per_model(args.drop_inside, 0.0, "--drop-inside")]
    merges = []
    for v in per_model(args.merge, "none", "--merge"):
        view, how = v.rsplit(":", 1) if v.rsplit(":", 1)[-1] in HOWS else (v, "mean")
        if view != "none" and view != "flip" and not Path(view).is_file():
            ap.error(f"--merge {v}: no model file {view}")
        merges.append(None if view == "none" else (view, how))
    verifies = []
    for v in per_model(args.verify, "none", "--verify"):
        path, _, weight = v.partition(":")
        if path != "none" and not Path(path).is_file():
            ap.error(f"--verify {v}: no verifier file {path}")
        verifies.append(None if path == "none" else (path, float(weight or Verifier().weight)))
    review = read_review(args.clean_review) if args.clean_review.is_file() else None
    try:
        completions = read_completions(args.completions) if args.completions.is_file() else None
    except (OSError, ValueError, KeyError) as e:
        print(f"evaluate: {args.completions}: {e}", file=sys.stderr)
        return 2
    if args.split == "val":
        reports = [evaluate_validation(m, args.data, z, c, review, i, completions, d, g, v)
                   for m, z, c, i, d, g, v in zip(models, sizes, confs, ious, insides, merges, verifies)]
    else:
        reports = [evaluate(m, args.data, z, c, args.full_sim, review, i, completions, d, g, v)
                   for m, z, c, i, d, g, v in zip(models, sizes, confs, ious, insides, merges, verifies)]
    print(json.dumps(reports, indent=2))
    print(validation_table(reports) if args.split == "val" else table(reports))
    if args.json:
        args.json.write_text(json.dumps(reports, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
