"""models/bias_correction.py: the shift rounded weights add to a conv's output comes out of its
quantized bias, worked out by hand on a one-conv model in onnxruntime's QDQ layout."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
from onnx import TensorProto, helper, numpy_helper  # noqa: E402

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models.bias_correction import bias_shift, correct_biases  # noqa: E402

# channel 0: every weight 0.26, quantized at scale 0.1 to 3 (0.3: +0.04 each); channel 1: exact
W = np.stack([np.full((3, 1, 1), 0.26), np.full((3, 1, 1), 0.2)]).astype(np.float32)
Q = np.stack([np.full((3, 1, 1), 3), np.full((3, 1, 1), 2)]).astype(np.int8)


def _models(tmp_path: Path) -> tuple[Path, Path]:
    x = helper.make_tensor_value_info("images", TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("out", TensorProto.FLOAT, [1, 2, 4, 4])
    flt = helper.make_model(helper.make_graph(
        [helper.make_node("Conv", ["images", "c.weight", "c.bias"], ["out"])], "f", [x], [y],
        [numpy_helper.from_array(W, "c.weight"), numpy_helper.from_array(np.array([1.0, 1.0], np.float32), "c.bias")]),
        opset_imports=[helper.make_opsetid("", 13)])
    inits = [numpy_helper.from_array(Q, "c.weight_quantized"),
             numpy_helper.from_array(np.array([0.1, 0.1], np.float32), "c.weight_scale"),
             numpy_helper.from_array(np.zeros(2, np.int8), "c.weight_zero_point"),
             numpy_helper.from_array(np.array([100, 100], np.int32), "c.bias_quantized"),
             numpy_helper.from_array(np.array([0.01, 0.01], np.float32), "c.bias_quantized_scale"),
             numpy_helper.from_array(np.zeros(2, np.int32), "c.bias_quantized_zero_point")]
    nodes = [helper.make_node("DequantizeLinear", ["c.weight_quantized", "c.weight_scale", "c.weight_zero_point"],
                              ["c.weight_DequantizeLinear_Output"], axis=0),
             helper.make_node("DequantizeLinear", ["c.bias_quantized", "c.bias_quantized_scale", "c.bias_quantized_zero_point"],
                              ["c.bias"], axis=0),
             helper.make_node("Conv", ["images", "c.weight_DequantizeLinear_Output", "c.bias"], ["out"])]
    qdq = helper.make_model(helper.make_graph(nodes, "q", [x], [y], inits), opset_imports=[helper.make_opsetid("", 13)])
    paths = tmp_path / "float.onnx", tmp_path / "int8.onnx"
    onnx.save(flt, str(paths[0]))
    onnx.save(qdq, str(paths[1]))
    return paths


def test_the_weights_rounding_shift_leaves_the_bias(tmp_path):
    flt, qdq = _models(tmp_path)
    blob = np.full((1, 3, 4, 4), 0.5, np.float32)  # every input channel's mean is 0.5
    assert correct_biases(flt, qdq, [blob, blob]) == 1
    model = onnx.load(str(qdq))
    bias = {t.name: numpy_helper.to_array(t) for t in model.graph.initializer}["c.bias_quantized"]
    # channel 0: 3 inputs x 0.04 x 0.5 = 0.06 too much, 6 steps of 0.01 taken out; channel 1 exact
    assert bias.tolist() == [94, 100] and bias.dtype == np.int32
    import onnxruntime as ort

    out = ort.InferenceSession(str(qdq), providers=["CPUExecutionProvider"]).run(None, {"images": blob})[0]
    assert out[0, 0].mean() == pytest.approx(3 * 0.26 * 0.5 + 1.0, abs=1e-5)  # now as the float conv


def test_bias_shift_sums_over_inputs_and_kernel():
    w = np.zeros((1, 2, 2, 2))
    wq = w.copy()
    wq[0, 0] += 0.1  # four kernel taps of input 0 are 0.1 too high
    assert bias_shift(w, wq, np.array([2.0, 7.0])).tolist() == pytest.approx([0.8])
