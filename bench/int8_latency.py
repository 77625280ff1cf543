#!/usr/bin/env python3
"""Float against INT8 ONNX detector latency, side by side in one run.

    python bench/int8_latency.py [--imgsz 416] [--rounds 15] [--runs 10] [--threads 2] [--also FILE ...]

Both files (models/garbage-yolo.onnx and its twin models/garbage-yolo-int8.onnx) are loaded
once and timed in alternating rounds on one simulated room frame, so a busy machine slows
both alike; the speed-up is the median of the per-round ratios (goal >= 1.5 to ship INT8 as
the default). `--also FILE` times further candidate files (another quantization of the same
model) in the same rounds, each against the float file.
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
    ap.add_argument("--also", type=Path, action="append", default=[], metavar="FILE",
                    help="a further INT8 candidate, timed in the same rounds (repeatable)")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    float_path, int8_path = onnx_precisions(args.model)
    frame = bench_frame()
    paths = [float_path, int8_path, *args.also]
    dets = [load_detector("onnx", p, args.imgsz, 0.4, 0.5, args.threads) for p in paths]
    fl, *quantized = time_side_by_side(dets, frame, args.runs * args.rounds, args.rounds)
    rows = []
    for det, q in zip(dets[1:], quantized):
        ratios = round_ratios(fl, q)
        rows.append({"imgsz": args.imgsz, "threads": args.threads, "int8": det.model_path.name,
                     "float_ms": round(statistics.median(fl["round_ms"]), 2),
                     "int8_ms": round(statistics.median(q["round_ms"]), 2), "speedup": speedup(fl, q),
                     "speedup_range": [round(min(ratios), 2), round(max(ratios), 2)]})
    if args.json:
        for row in rows:
            print(json.dumps(row))
        return 0
    print(f"imgsz {args.imgsz}, {args.threads} threads, {args.rounds} alternating rounds of {args.runs} runs")
    print(f"  float {float_path.name}: median {rows[0]['float_ms']:.1f} ms")
    for row in rows:
        print(f"  int8  {row['int8']}: median {row['int8_ms']:.1f} ms; speed-up float / int8: {row['speedup']:.2f} "
              f"(rounds {row['speedup_range'][0]:.2f}-{row['speedup_range'][1]:.2f}; goal >= 1.5)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
