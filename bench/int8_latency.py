#!/usr/bin/env python3
"""Float against INT8 ONNX detector latency, side by side in one run.

    python bench/int8_latency.py [--imgsz 416] [--rounds 15] [--runs 10] [--threads 2]

Both files (models/garbage-yolo.onnx and its twin models/garbage-yolo-int8.onnx) are loaded
once and timed in alternating rounds on one simulated room frame, so a busy machine slows
both alike; the speed-up is the median of the per-round ratios (goal >= 1.5 to ship INT8 as
the default).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.cli.bench_cmd import bench_frame, round_ratios, speedup, time_side_by_side  # noqa: E402
from edge.vision.detector import load_detector, onnx_precisions  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", type=Path, default=ROOT / "models" / "garbage-yolo.onnx", help="either file of the pair")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--rounds", type=int, default=15)
    ap.add_argument("--runs", type=int, default=10, help="timed runs per model per round")
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    float_path, int8_path = onnx_precisions(args.model)
    frame = bench_frame()
    dets = {name: load_detector("onnx", p, args.imgsz, 0.4, 0.5, args.threads) for name, p in (("float", float_path), ("int8", int8_path))}
    fl, q = time_side_by_side(list(dets.values()), frame, args.runs * args.rounds, args.rounds)
    ratios = round_ratios(fl, q)
    row = {"imgsz": args.imgsz, "threads": args.threads, "float_ms": round(statistics.median(fl["round_ms"]), 2),
           "int8_ms": round(statistics.median(q["round_ms"]), 2), "speedup": speedup(fl, q),
           "speedup_range": [round(min(ratios), 2), round(max(ratios), 2)]}
    if args.json:
        print(json.dumps(row))
    else:
        print(f"imgsz {args.imgsz}, {args.threads} threads, {args.rounds} alternating rounds of {args.runs} runs")
        print(f"  float {float_path.name}: median {row['float_ms']:.1f} ms")
        print(f"  int8  {int8_path.name}: median {row['int8_ms']:.1f} ms")
        print(f"  speed-up float / int8: {row['speedup']:.2f} (rounds {row['speedup_range'][0]:.2f}-{row['speedup_range'][1]:.2f}; goal >= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
