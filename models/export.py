#!/usr/bin/env python3
"""Export trained weights to the shipped ONNX model (and NCNN where the package can).

    YOLO_OFFLINE=1 python models/export.py runs/garbage/train/weights/best.pt --out models/garbage-yolo.onnx
    YOLO_OFFLINE=1 python models/export.py best.pt --out site-model.onnx --ncnn

The ONNX file has a dynamic input size (so `gedge bench` can try several imgsz on one file),
opset 13 (runs on onnxruntime >= 1.10), simplified graph, and ultralytics' metadata
(class names, stride, imgsz), which the onnx backend reads for its class names.
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="export detector weights to ONNX (and NCNN)")
    ap.add_argument("weights", type=Path, help="trained .pt (best.pt or last.pt)")
    ap.add_argument("--out", type=Path, default=Path("models/garbage-yolo.onnx"))
    ap.add_argument("--imgsz", type=int, default=416, help="the size it was trained at (the shipped model: 416)")
    ap.add_argument("--opset", type=int, default=13)
    ap.add_argument("--static", action="store_true", help="fixed input size instead of dynamic")
    ap.add_argument("--ncnn", action="store_true", help="also export an NCNN folder beside --out")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    from ultralytics import YOLO

    if not args.weights.is_file():
        print(f"export: weights not found: {args.weights}", file=sys.stderr)
        return 2
    model = YOLO(str(args.weights))
    produced = Path(model.export(format="onnx", imgsz=args.imgsz, dynamic=not args.static, simplify=True,
                                 opset=args.opset, half=False, device="cpu"))
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if produced.resolve() != args.out.resolve():
        shutil.copyfile(produced, args.out)
    print(f"ONNX: {args.out} ({args.out.stat().st_size / 1e6:.1f} MB)")
    if args.ncnn:
        try:
            folder = Path(YOLO(str(args.weights)).export(format="ncnn", imgsz=args.imgsz, device="cpu"))
            dst = args.out.with_suffix("").with_name(args.out.stem + "_ncnn_model")
            if dst.exists():
                shutil.rmtree(dst)
            shutil.copytree(folder, dst)
            size = sum(p.stat().st_size for p in dst.rglob("*") if p.is_file())
            print(f"NCNN: {dst} ({size / 1e6:.1f} MB)")
        except Exception as exc:  # NCNN export needs extra packages (pnnx, ncnn) that may be absent offline
            print(f"NCNN export not available here: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}",
                  file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
