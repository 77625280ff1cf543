#!/usr/bin/env python3
"""Where an INT8 twin departs from its float model: the signal-to-quantization-noise ratio of
every layer's output, float against INT8, on a few pictures.

    python models/quant_error.py models/garbage-yolo.onnx models/garbage-yolo-int8.onnx \
        --pictures data/garbage-r2/real_val/images --count 12

Both models are run with every intermediate tensor as an output (onnxruntime's qdq_loss_debug);
for each layer of the network the last tensor it writes is compared. A ratio in dB, higher is
closer to float: the error one layer adds shows as a step down from the layer before it. Choose
on validation pictures, never held-out ones.
"""
from __future__ import annotations

import argparse
import random
import re
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))
from models.quantize import blob_reader, prepared  # noqa: E402

_LAYER = re.compile(r"^/model\.(\d+)/")


def layer_of(tensor: str) -> int | None:
    m = _LAYER.match(tensor)
    return int(m.group(1)) if m else None


def last_per_layer(errors: dict[str, float], order: list[str]) -> list[tuple[int, str, float]]:
    """(layer, tensor, dB) for the last tensor of each layer in graph order."""
    last: dict[int, tuple[str, float]] = {}
    for name in order:
        layer = layer_of(name)
        if layer is not None and name in errors:
            last[layer] = (name, errors[name])
    return [(layer, *last[layer]) for layer in sorted(last)]


def layer_errors(float_model: Path, int8_model: Path, blobs: list) -> list[tuple[int, str, float]]:
    import onnx
    from onnxruntime.quantization.qdq_loss_debug import (collect_activations, compute_activation_error,
                                                          create_activation_matching,
                                                          modify_model_output_intermediate_tensors)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    with tempfile.TemporaryDirectory() as tmp:
        pre, f_aug, q_aug = (str(Path(tmp) / n) for n in ("pre.onnx", "float.onnx", "int8.onnx"))
        # the INT8 twin was quantized from the pre-processed float graph: compare the same tensors
        quant_pre_process(str(float_model), pre, skip_symbolic_shape=True)
        modify_model_output_intermediate_tensors(pre, f_aug)
        modify_model_output_intermediate_tensors(str(int8_model), q_aug)
        matched = create_activation_matching(collect_activations(q_aug, blob_reader(blobs)),
                                             collect_activations(f_aug, blob_reader(blobs)))
        order = [out for node in onnx.load(pre).graph.node for out in node.output]
    errors = {k: v["xmodel_err"] for k, v in compute_activation_error(matched).items() if "xmodel_err" in v}
    return last_per_layer(errors, order)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="per-layer float against INT8 error of the ONNX detector")
    ap.add_argument("float_model", type=Path)
    ap.add_argument("int8_model", type=Path)
    ap.add_argument("--pictures", type=Path, required=True, help="a folder of pictures (validation ones)")
    ap.add_argument("--count", type=int, default=12, help="pictures drawn from it, seeded (default 12)")
    ap.add_argument("--imgsz", type=int, default=416)
    args = ap.parse_args(argv)
    for path in (args.float_model, args.int8_model):
        if not path.is_file():
            print(f"quant_error: model not found: {path}", file=sys.stderr)
            return 2
    files = sorted(p for p in args.pictures.iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png")) \
        if args.pictures.is_dir() else []
    random.Random(1).shuffle(files)
    blobs = [b for b in (prepared(p, args.imgsz) for p in files[: args.count]) if b is not None]
    if not blobs:
        print(f"quant_error: no readable picture in {args.pictures}", file=sys.stderr)
        return 2
    print(f"{args.int8_model.name} against {args.float_model.name}, {len(blobs)} pictures: SQNR in dB per layer")
    for layer, tensor, db in layer_errors(args.float_model, args.int8_model, blobs):
        print(f"  layer {layer:2d}  {db:6.2f} dB  {tensor}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
