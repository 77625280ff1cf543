#!/usr/bin/env python3
"""Train the garbage-edge detector with ultralytics, from a model YAML (no pretrained weights).

    YOLO_OFFLINE=1 python models/train.py --data data/garbage/data.yaml --hours 1.2
    YOLO_OFFLINE=1 python models/train.py --resume runs/garbage/last/weights/last.pt

`--hours` makes ultralytics fit the number of epochs into that wall time (the learning-rate
schedule follows); `--resume` continues an interrupted run from its last checkpoint.
A site retraining on its own frames passes its own data.yaml (see models/MODEL_CARD.md)
and may start from the shipped weights with `--weights`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the bag detector (ultralytics)")
    ap.add_argument("--data", default="data/garbage/data.yaml", help="YOLO data.yaml")
    ap.add_argument("--model", default=str(HERE / "garbage-yolo.yaml"), help="model YAML (from scratch)")
    ap.add_argument("--weights", default=None, help="start from these weights (.pt) instead, e.g. to fine-tune on site frames")
    ap.add_argument("--imgsz", type=int, default=320)
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--hours", type=float, default=None, help="wall-time budget; overrides --epochs")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--project", default="runs/garbage")
    ap.add_argument("--name", default="train")
    ap.add_argument("--resume", default=None, metavar="LAST_PT", help="continue from this last.pt")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    if args.resume:
        YOLO(args.resume).train(resume=True)
        return 0
    model = YOLO(args.model)
    extra = {"time": args.hours} if args.hours else {}
    model.train(
        data=args.data, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, workers=args.workers,
        device=args.device, project=str(Path(args.project).resolve()), name=args.name, exist_ok=True,
        # a path makes ultralytics copy those weights into the model; False trains from scratch
        pretrained=args.weights or False, amp=False, plots=False, patience=1000, cache="ram",
        # augmentations: the real photos are few, so lean on them
        mosaic=1.0, close_mosaic=3, hsv_h=0.02, hsv_s=0.6, hsv_v=0.45, fliplr=0.5, flipud=0.0,
        degrees=5.0, translate=0.1, scale=0.5, shear=2.0, perspective=0.0005, mixup=0.05,
        warmup_epochs=0 if args.weights else 2, cos_lr=False, lr0=0.01, **extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
