#!/usr/bin/env python3
"""An INT8 twin of the float ONNX detector: onnxruntime static quantization, calibrated on training frames.

    python models/quantize.py models/garbage-yolo.onnx --calib data/garbage --out models/garbage-yolo-int8.onnx

Calibration pictures are drawn (seeded) from the *training* folders of a dataset built by
build_dataset.py — real photos, truck frames and simulated rooms — and prepared exactly as the
onnx backend prepares a frame (letterbox, RGB, 0..1), so the ranges are those seen in use. No
held-out picture is ever used.

Quantized, as QDQ: every Conv's weights (int8, per output channel) and the activations (uint8)
of every op with an int8 kernel (the SiLUs, residual adds, concats, pooling, upsampling), so a
tensor stays int8 from one conv to the next (`--ops conv` quantizes the convs alone).
Weights are int8 with 7-bit range by default (`--weights int8-7bit`). x86 CPUs with AVX2 but
without VNNI multiply uint8 activations by int8 weights with an instruction that saturates its
16-bit sums (onnxruntime's quantization guide says so), and on this model full-range int8
weights then lose about 0.09 AP50 on real validation photos; 7-bit weights cannot saturate
and lose about 0.025 at the same speed. `uint8` weights lose nothing but are not faster there.
ARM boards have no such instruction; the full range (`--weights int8`) suits them.

Biases corrected (`models/bias_correction.py`, on by default): the mean shift the rounded weights
add to each conv's output, measured on the calibration pictures, is taken out of its bias. It
recovers part of what the 7-bit weights lose, at no cost in speed (`--no-bias-correction`: as
quantized).

Kept in float: the detection head's decoding after its last convs (DFL, box arithmetic, class
sigmoid, concatenation): box coordinates in pixels and scores near 0 and 1 do not survive a
single 8-bit scale, and those ops cost nothing next to the convs.
"""
from __future__ import annotations

import argparse
import random
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from edge.vision.detector import letterbox  # noqa: E402
from models.bias_correction import correct_biases  # noqa: E402

CALIB_FOLDERS = ("real_train", "truck_train", "sim_train", "neg_train")


def calibration_pictures(dataset: Path, count: int, seed: int = 0) -> list[Path]:
    """Up to `count` training pictures, spread evenly over the training folders that exist."""
    folders = [dataset / f / "images" for f in CALIB_FOLDERS if (dataset / f / "images").is_dir()]
    if not folders:
        raise SystemExit(f"quantize: no training pictures under {dataset} (expected {', '.join(CALIB_FOLDERS)})")
    rng = random.Random(seed)
    per = max(1, count // len(folders))
    picks: list[Path] = []
    for folder in folders:
        files = sorted(folder.iterdir())
        picks += rng.sample(files, min(per, len(files)))
    return picks[:count]


def prepared(path: Path, imgsz: int) -> np.ndarray | None:
    img = cv2.imread(str(path))
    if img is None:
        return None
    # square, not the backend's stride-rounded rectangle: histogram calibration needs one shape
    boxed, _, _ = letterbox(img, imgsz, None)
    return cv2.dnn.blobFromImage(boxed, 1 / 255.0, swapRB=True)


def float_nodes(model_path: Path, whole_head: bool) -> list[str]:
    """Nodes kept in float: the Detect layer's decoding (DFL, box arithmetic, sigmoid, concat), and with
    whole_head its convs too (the last 1x1 convs map features straight to box offsets and class logits)."""
    import onnx

    graph = onnx.load(str(model_path)).graph
    layers = sorted({n.name.split("/")[1] for n in graph.node if n.name.startswith("/model.")},
                    key=lambda s: int(s.split(".")[1]) if s.split(".")[1].isdigit() else -1)
    head = f"/{layers[-1]}/"
    return [n.name for n in graph.node if n.name.startswith(head) and (whole_head or n.op_type != "Conv" or "/dfl/" in n.name)] + \
        [n.name for n in graph.node if not n.name.startswith("/model.")]


METHODS = {"minmax": "MinMax", "entropy": "Entropy", "percentile": "Percentile"}
WEIGHTS = ("int8-7bit", "int8", "uint8")
# which ops run in int8. "conv" leaves the SiLU activations (Sigmoid, Mul), the residual Adds,
# the Concats, pooling and upsampling in float, so every conv's output is dequantized and the
# next conv's input quantized again: that conversion took a third of the INT8 model's time.
# "all" keeps the tensors in int8 from one conv to the next.
OPS = {"conv": ("Conv",), "all": ("Conv", "Sigmoid", "Mul", "Add", "Concat", "MaxPool", "Resize")}
CALIB_SLICE = 20  # calibration pictures run at a time
CALIB_COUNT = 480  # asked for (fewer where a folder runs short); 240 scored lower on validation (model card)
PERCENTILE = 99.99  # of each activation's values, its range with --method percentile


def whole_slices(blobs: list[np.ndarray]) -> tuple[list[np.ndarray], int]:
    """The blobs cut to a whole number of calibration slices (onnxruntime wants whole slices),
    and the slice size."""
    slice_ = min(CALIB_SLICE, len(blobs))
    return blobs[:len(blobs) - len(blobs) % slice_], slice_


def blob_reader(blobs: list[np.ndarray], input_name: str = "images"):
    """The prepared pictures as an onnxruntime CalibrationDataReader, fed as `input_name`."""
    from onnxruntime.quantization import CalibrationDataReader

    class Reader(CalibrationDataReader):
        """onnxruntime reads it a slice at a time (CalibStridedMinMax, which serves every method):
        the histograms are merged per slice, so memory holds one slice's activations, not all."""

        def __init__(self) -> None:
            self.set_range(0, len(blobs))

        def __len__(self) -> int:
            return len(blobs)

        def set_range(self, start_index: int, end_index: int) -> None:
            self.items = iter(blobs[start_index:end_index])

        def get_next(self):
            blob = next(self.items, None)
            return None if blob is None else {input_name: blob}

    return Reader()


def quantize(model: Path, out: Path, dataset: Path, count: int, imgsz: int, method: str = "percentile",
             float_head: bool = False, weights: str = "int8-7bit", ops: str = "all", bias_correction: bool = True,
             percentile: float = PERCENTILE, seed: int = 0) -> int:
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    from onnxruntime.quantization.shape_inference import quant_pre_process

    pictures = calibration_pictures(dataset, count, seed)
    blobs = [b for b in (prepared(p, imgsz) for p in pictures) if b is not None]
    if not blobs:
        raise SystemExit("quantize: no readable calibration picture")
    blobs, slice_ = whole_slices(blobs)

    with tempfile.TemporaryDirectory() as tmp:
        pre = Path(tmp) / "pre.onnx"
        quant_pre_process(str(model), str(pre), skip_symbolic_shape=True)
        out.parent.mkdir(parents=True, exist_ok=True)
        quantize_static(str(pre), str(out), blob_reader(blobs), quant_format=QuantFormat.QDQ, per_channel=True,
                        activation_type=QuantType.QUInt8, op_types_to_quantize=list(OPS[ops]),
                        weight_type=QuantType.QUInt8 if weights == "uint8" else QuantType.QInt8,
                        reduce_range=weights == "int8-7bit",
                        nodes_to_exclude=float_nodes(pre, float_head), calibrate_method=getattr(CalibrationMethod, METHODS[method]),
                        extra_options={"CalibStridedMinMax": slice_,
                                       **({"CalibPercentile": percentile} if method == "percentile" else {})})
        if bias_correction:
            correct_biases(pre, out, blobs)
    _copy_metadata(model, out, weights, ops, bias_correction)
    return len(blobs)


def _copy_metadata(src: Path, dst: Path, weights: str, ops: str, bias_correction: bool) -> None:
    """Keep ultralytics' metadata (class names, stride, task): the onnx backend reads it."""
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(src)).metadata_props}
    q = onnx.load(str(dst))
    del q.metadata_props[:]
    for k, v in {**meta, "quantization": f"static (onnxruntime QDQ, {ops} ops, uint8 activations, per-channel {weights} conv weights"
                                  + (", biases corrected" if bias_correction else "") + ")"}.items():
        q.metadata_props.add(key=k, value=v)
    onnx.save(q, str(dst))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="INT8 static quantization of the ONNX detector")
    ap.add_argument("model", type=Path, help="float ONNX model (models/export.py)")
    ap.add_argument("--calib", type=Path, required=True, help="dataset folder from build_dataset.py (its training pictures calibrate)")
    ap.add_argument("--out", type=Path, default=None, help="output (default: MODEL-int8.onnx beside the model)")
    ap.add_argument("--count", type=int, default=CALIB_COUNT,
                    help=f"calibration pictures (default {CALIB_COUNT}; run {CALIB_SLICE} at a time, so memory does not grow with it)")
    ap.add_argument("--seed", type=int, default=0, help="which calibration pictures are drawn (default 0)")
    ap.add_argument("--imgsz", type=int, default=416, help="the input size the model runs at (the shipped model: 416)")
    ap.add_argument("--method", choices=sorted(METHODS), default="percentile",
                    help="activation range: percentile (default: ignores the rarest 0.01 %%), minmax or entropy")
    ap.add_argument("--percentile", type=float, default=PERCENTILE,
                    help=f"with --method percentile, the share of each activation's values its range holds (default {PERCENTILE})")
    ap.add_argument("--weights", choices=WEIGHTS, default="int8-7bit",
                    help="conv weights: int8-7bit (default: no saturation on AVX2 CPUs), int8 (full range, "
                         "for ARM boards) or uint8")
    ap.add_argument("--ops", choices=sorted(OPS), default="all",
                    help="all (default): every op with an int8 kernel, so tensors stay int8 between convs; conv: the convs only")
    ap.add_argument("--float-head", action="store_true", help="keep the detection head's convs in float too")
    ap.add_argument("--no-bias-correction", action="store_true",
                    help="leave the biases as quantized (default: the mean shift of the rounded weights is taken "
                         "out of each conv's bias, models/bias_correction.py)")
    args = ap.parse_args(argv)
    if not args.model.is_file():
        print(f"quantize: model not found: {args.model}", file=sys.stderr)
        return 2
    if not 50.0 < args.percentile <= 100.0:
        print(f"quantize: --percentile must be above 50 and at most 100, not {args.percentile}", file=sys.stderr)
        return 2
    out = args.out or args.model.with_name(args.model.stem + "-int8.onnx")
    n = quantize(args.model, out, args.calib, args.count, args.imgsz, args.method, args.float_head, args.weights, args.ops,
                 not args.no_bias_correction, args.percentile, args.seed)
    print(f"INT8: {out} ({out.stat().st_size / 1e6:.1f} MB), calibrated on {n} training pictures")
    return 0


if __name__ == "__main__":
    sys.exit(main())
