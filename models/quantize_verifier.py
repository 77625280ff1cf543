#!/usr/bin/env python3
"""An INT8 twin of the bag verifier: onnxruntime static quantization, calibrated on training crops.

    python models/quantize_verifier.py models/bag-verifier.onnx --data data/garbage-r2 \\
        --work runs/verifier --out models/bag-verifier-int8.onnx

The calibration crops are the verifier's own training crops (models/train_verifier.py: the crop
the box makes around labelled bags, the detector's bags and false bags, bins, people and random
boxes of the training pictures), drawn with a seed, centred as the box shows them. They are read
from train_verifier's cache in --work, or mined into it with --detector when it is not there.
No validation or held-out picture is read.

As the detector's twin (models/quantize.py): QDQ, per-channel int8 weights with 7-bit range (x86
CPUs without VNNI saturate full-range products), uint8 activations, the same percentile ranges.
The one-logit head stays float: a logit's scale matters where the blend reads it.
Exit codes: 0 done, 2 no dataset or no crops.
"""
from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import load_detector  # noqa: E402
from models.quantize import CALIB_COUNT, METHODS, PERCENTILE, blob_reader, whole_slices  # noqa: E402
from models.train_verifier import TRAIN_SETS, cached_crops, centre, crop_cache  # noqa: E402


def calibration_crops(train: dict, count: int, size: int, seed: int) -> list[np.ndarray]:
    """count training crops, drawn with seed, each as a 1 x 3 x size x size input."""
    rng = np.random.default_rng(seed)
    picks = np.sort(rng.choice(len(train["y"]), size=min(count, len(train["y"])), replace=False))
    return [centre(train["x"][i:i + 1], size) for i in picks]


def quantize_verifier(model: Path, out: Path, blobs: list[np.ndarray], percentile: float = PERCENTILE) -> None:
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    blobs, slice_ = whole_slices(blobs)
    graph = onnx.load(str(model)).graph
    input_name = graph.input[0].name
    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        head = [n.name for n in onnx.load(str(pre)).graph.node if n.op_type in ("Gemm", "MatMul")]
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(pre), str(out), blob_reader(blobs, input_name), quant_format=QuantFormat.QDQ,
                        per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8,
                        reduce_range=True, nodes_to_exclude=head,
                        calibrate_method=getattr(CalibrationMethod, METHODS["percentile"]),
                        extra_options={"CalibStridedMinMax": slice_, "CalibPercentile": percentile})
    q = onnx.load(str(out))
    q.metadata_props.add(key="quantization", value="static (onnxruntime QDQ, uint8 activations, per-channel "
                                                   f"int8-7bit weights, {len(blobs)} training crops)")
    onnx.save(q, str(out))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("model", type=Path, help="the float verifier (models/train_verifier.py)")
    ap.add_argument("--data", type=Path, default=Path("data/garbage-r2"))
    ap.add_argument("--work", type=Path, default=Path("runs/verifier"), help="train_verifier's crop cache")
    ap.add_argument("--detector", type=Path, default=Path("models/garbage-yolo.onnx"),
                    help="the float detector the verifier was trained with (its crops are cached under its name)")
    ap.add_argument("--imgsz", type=int, default=416)
    ap.add_argument("--count", type=int, default=CALIB_COUNT, help=f"calibration crops (default {CALIB_COUNT})")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=None, help="output (default: MODEL-int8.onnx beside the model)")
    args = ap.parse_args(argv)
    import onnx

    size = int(onnx.load(str(args.model)).graph.input[0].type.tensor_type.shape.dim[2].dim_value)
    cache = crop_cache(args.work, "train", args.detector, size)
    if not cache.exists() and not (args.data / "real_train_completed").is_dir():
        print(f"quantize_verifier: no crop cache {cache} and no dataset at {args.data}", file=sys.stderr)
        return 2
    args.work.mkdir(parents=True, exist_ok=True)
    det = None if cache.exists() else load_detector("onnx", args.detector, imgsz=args.imgsz, conf=0.05, iou=0.5)
    train = cached_crops(cache, args.data, TRAIN_SETS, det, size, args.seed)
    blobs = calibration_crops(train, args.count, size, args.seed)
    if not blobs:
        print("quantize_verifier: no training crops", file=sys.stderr)
        return 2
    out = args.out or args.model.with_name(args.model.stem + "-int8.onnx")
    quantize_verifier(args.model, out, blobs)
    print(f"{len(blobs)} training crops calibrated -> {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
