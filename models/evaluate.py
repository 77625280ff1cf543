#!/usr/bin/env python3
"""Held-out metrics of a detector model, as the model card reports them.

    YOLO_OFFLINE=1 python models/evaluate.py --model models/garbage-yolo.onnx --data data/garbage

1. Simulated held-out scenes (seeds never used in training, `sim_test/`): mAP50 and
   mAP50-95 per class (ultralytics' validator, run on the given model file itself).
2. Real held-out photos (`real_test/`, source photos never used in training): precision and
   recall of `garbage_bag` at IoU 0.5 with our onnx backend at the deployed confidence, the
   best recall reachable at precision >= 0.80, and mAP50.

Prints a table; `--json FILE` writes the numbers too.
"""
from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import load_detector  # noqa: E402

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


def pr_sweep(folder: Path, model: Path, imgsz: int, conf_floor: float = 0.05, only=None) -> dict:
    """Precision/recall of garbage_bag at IoU 0.5 for every confidence threshold."""
    det = load_detector("onnx", model, imgsz=imgsz, conf=conf_floor, iou=0.5, threads=2)
    scored: list[tuple[float, bool]] = []
    n_gt = 0
    n_img = 0
    for img_path in sorted((folder / "images").iterdir()):
        if only and not only(img_path.name):
            continue
        img = cv2.imread(str(img_path))
        if img is None:
            continue
        n_img += 1
        h, w = img.shape[:2]
        gts = read_labels(folder / "labels" / (img_path.stem + ".txt"), w, h)
        n_gt += len(gts)
        used = [False] * len(gts)
        for d in sorted((d for d in det.detect(img) if d.cls == "garbage_bag"), key=lambda d: -d.conf):
            best, bi = 0.0, -1
            for i, g in enumerate(gts):
                if not used[i]:
                    v = iou(d.xyxy, g)
                    if v > best:
                        best, bi = v, i
            if best >= 0.5:
                used[bi] = True
                scored.append((d.conf, True))
            else:
                scored.append((d.conf, False))
    scored.sort(key=lambda s: -s[0])
    tp = np.cumsum([s[1] for s in scored]) if scored else np.zeros(0)
    fp = np.cumsum([not s[1] for s in scored]) if scored else np.zeros(0)
    confs = np.array([s[0] for s in scored])
    prec = tp / np.maximum(tp + fp, 1)
    rec = tp / max(n_gt, 1)
    # AP50 (all-point interpolation)
    ap = 0.0
    if len(rec):
        mrec = np.concatenate([[0.0], rec, [1.0]])
        mpre = np.concatenate([[1.0], prec, [0.0]])
        mpre = np.maximum.accumulate(mpre[::-1])[::-1]
        idx = np.where(mrec[1:] != mrec[:-1])[0]
        ap = float(np.sum((mrec[idx + 1] - mrec[idx]) * mpre[idx + 1]))
    return {"images": n_img, "gt": n_gt, "confs": confs, "prec": prec, "rec": rec, "ap50": ap}


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


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="held-out metrics of the detector")
    ap.add_argument("--model", type=Path, default=Path("models/garbage-yolo.onnx"))
    ap.add_argument("--data", type=Path, default=Path("data/garbage"), help="dataset folder from build_dataset.py")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--conf", type=float, default=0.4, help="deployed confidence threshold (vision.conf)")
    ap.add_argument("--skip-sim", action="store_true")
    ap.add_argument("--json", type=Path, default=None, help="also write the numbers to this file")
    args = ap.parse_args(argv)
    report: dict = {"model": str(args.model), "imgsz": args.imgsz}
    if not args.skip_sim:
        report["sim_heldout"] = {"all": sim_map(args.model, args.data / "sim_test.yaml", args.imgsz)}
        # the default room layout (what the demo and the bundled scenarios show): every third scene
        imgs = sorted((args.data / "sim_test" / "images").glob("*.jpg"))
        first = min(int(p.stem.split("_")[1]) for p in imgs)
        default = [p for p in imgs if (int(p.stem.split("_")[1]) - first) % 3 == 0]
        lst = args.data / "sim_test_default.txt"
        lst.write_text("\n".join(str(p.resolve()) for p in default) + "\n")
        yml = args.data / "sim_test_default.yaml"
        yml.write_text((args.data / "sim_test.yaml").read_text().replace("val: sim_test/images", f"val: {lst.resolve()}"))
        report["sim_heldout"]["default_room"] = sim_map(args.model, yml, args.imgsz)
        report["sim_heldout"]["images"] = {"all": len(imgs), "default_room": len(default)}
        sw = pr_sweep(args.data / "sim_test", args.model, args.imgsz)
        report["sim_heldout"]["garbage_bag_pr"] = {"images": sw["images"], "bags": sw["gt"], "at_conf": at_conf(sw, args.conf),
                                                   "best_recall_at_p80": best_recall_at_precision(sw, 0.8)}
    real = args.data / "real_test"
    if real.is_dir():
        manifest = json.loads((args.data / "manifest.json").read_text()) if (args.data / "manifest.json").is_file() else {}
        from_train = set(manifest.get("real", {}).get("heldout_from_train_split", []))
        subsets = {"all": None,
                   "valid_test_photos": lambda n: n[len("real_"):].split(".rf.")[0] not in from_train,
                   "train_split_sources": lambda n: n[len("real_"):].split(".rf.")[0] in from_train}
        report["real_heldout"] = {}
        for name, only in subsets.items():
            sw = pr_sweep(real, args.model, args.imgsz, only=only)
            if not sw["images"]:
                continue
            report["real_heldout"][name] = {
                "images": sw["images"], "bags": sw["gt"], "ap50": round(sw["ap50"], 4),
                "at_conf": at_conf(sw, args.conf), "best_recall_at_p80": best_recall_at_precision(sw, 0.8)}
    print(json.dumps(report, indent=2))
    if args.json:
        args.json.write_text(json.dumps(report, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
