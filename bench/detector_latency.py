#!/usr/bin/env python3
"""Detector latency: our onnx backend against ultralytics on the same weights and input size.

    python bench/detector_latency.py [--imgsz 416] [--runs 50] [--threads 2]

Uses models/garbage-yolo.onnx for the onnx backend and models/garbage-yolo.pt (the same
trained weights before export) for the ultralytics backend, on one simulated room frame.
Prints median / p90 milliseconds per frame and the ratio onnx / ultralytics (goal <= 0.6).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.cli.bench_cmd import bench_frame, time_detector  # noqa: E402
from edge.vision.detector import load_detector  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--onnx", type=Path, default=ROOT / "models" / "garbage-yolo.onnx")
    ap.add_argument("--pt", type=Path, default=ROOT / "models" / "garbage-yolo.pt")
    ap.add_argument("--imgsz", type=int, nargs="+", default=[416])
    ap.add_argument("--runs", type=int, default=50)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    frame = bench_frame()
    for size in args.imgsz:
        onnx = time_detector(load_detector("onnx", args.onnx, size, 0.4, 0.5, args.threads), frame, args.runs, warmup=5)
        ultra = time_detector(load_detector("ultralytics", args.pt, size, 0.4, 0.5, args.threads), frame, args.runs, warmup=5)
        ratio = onnx["ms_median"] / ultra["ms_median"]
        row = {"imgsz": size, "threads": args.threads, "onnx": onnx, "ultralytics": ultra, "ratio_onnx_over_ultralytics": round(ratio, 3)}
        if args.json:
            print(json.dumps(row))
        else:
            print(f"imgsz {size}, {args.threads} threads, {args.runs} runs on a 640x480 frame")
            print(f"  onnx (onnxruntime)      median {onnx['ms_median']:7.1f} ms   p90 {onnx['ms_p90']:7.1f} ms")
            print(f"  ultralytics (torch .pt) median {ultra['ms_median']:7.1f} ms   p90 {ultra['ms_p90']:7.1f} ms")
            print(f"  ratio onnx / ultralytics: {ratio:.2f} (goal <= 0.6)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
