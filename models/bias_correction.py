"""Bias correction of a QDQ INT8 model (Nagel et al., "Data-Free Quantization Through Weight
Equalization and Bias Correction", 2019): the systematic shift a conv's rounded weights add to its
output, (W_q - W) . E[x], is taken out of the conv's bias.

    n = correct_biases(pre_processed_float.onnx, int8.onnx, calibration_blobs)   # rewrites int8.onnx

Rounding each weight to the nearest of 127 (7-bit: 63) steps leaves an error per weight; over a
conv's inputs those errors do not cancel where the inputs have a non-zero mean (after a SiLU they
mostly do), so every output channel is off by a constant. E[x], each input channel's mean, comes
from the calibration pictures run through the float model; the weights stay as they are, so the
file runs exactly as fast and on the same kernels.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np

DEQUANT_SUFFIX = "_DequantizeLinear_Output"  # onnxruntime's QDQ names: TENSOR -> TENSOR_DequantizeLinear_Output
QUANT_SUFFIX = "_quantized"  # weight W -> W_quantized


def bias_shift(w: np.ndarray, w_dequantized: np.ndarray, mean_in: np.ndarray) -> np.ndarray:
    """Per output channel, the mean error the quantized weights add: sum over inputs and kernel of
    (W_q - W) times the input channel's mean (zero padding at the borders is neglected)."""
    return (w_dequantized.astype(np.float64) - w.astype(np.float64)).sum(axis=(2, 3)) @ mean_in.astype(np.float64)


def corrected_bias(bias_q: np.ndarray, bias_scale: np.ndarray, shift: np.ndarray) -> np.ndarray:
    """The int32 quantized bias with the shift taken out, in the bias's own scale."""
    return np.round(bias_q.astype(np.float64) - shift / bias_scale.astype(np.float64)).astype(np.int32)


def _convs(qdq, float_weights: dict) -> list[tuple[str, str, object, object]]:
    """(conv input tensor, float weight name, weight DequantizeLinear, bias DequantizeLinear) of
    every quantized conv with a quantized bias."""
    producer = {out: n for n in qdq.graph.node for out in n.output}
    jobs = []
    for conv in qdq.graph.node:
        if conv.op_type != "Conv" or len(conv.input) < 3:
            continue
        wdq, bdq = producer.get(conv.input[1]), producer.get(conv.input[2])
        if not (wdq is not None and bdq is not None and wdq.op_type == bdq.op_type == "DequantizeLinear"):
            continue
        weight = wdq.input[0].removesuffix(QUANT_SUFFIX)
        if weight in float_weights:
            jobs.append((conv.input[0].removesuffix(DEQUANT_SUFFIX), weight, wdq, bdq))
    return jobs


def input_means(float_model: Path, tensors: list[str], blobs: list[np.ndarray]) -> dict[str, np.ndarray]:
    """Each tensor's per-channel mean over the pictures, from the float model ('images' as fed)."""
    import onnx
    import onnxruntime as ort

    model = onnx.load(str(float_model))
    inputs = {i.name for i in model.graph.input}
    inner = [t for t in tensors if t not in inputs]
    for name in inner:
        model.graph.output.append(onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    means = {t: np.zeros(1) for t in tensors}
    for blob in blobs:
        for name, value in zip(inner, session.run(inner, {"images": blob}) if inner else []):
            means[name] = means[name] + value.mean(axis=(0, 2, 3)) / len(blobs)
        for name in inputs & set(tensors):
            means[name] = means[name] + blob.mean(axis=(0, 2, 3)) / len(blobs)
    return means


def correct_biases(float_model: Path, qdq_model: Path, blobs: list[np.ndarray]) -> int:
    """Rewrite the quantized biases of qdq_model (quantized from float_model, whose tensor and
    weight names it keeps); returns how many convs were corrected."""
    import onnx
    from onnx import numpy_helper

    qdq = onnx.load(str(qdq_model))
    float_weights = {t.name: numpy_helper.to_array(t) for t in onnx.load(str(float_model)).graph.initializer}
    init = {t.name: t for t in qdq.graph.initializer}
    jobs = _convs(qdq, float_weights)
    means = input_means(float_model, sorted({j[0] for j in jobs}), blobs)
    for tensor, weight, wdq, bdq in jobs:
        q, scale, zero = (numpy_helper.to_array(init[n]).astype(np.float64) for n in wdq.input[:3])
        w_deq = (q - zero.reshape(-1, 1, 1, 1)) * scale.reshape(-1, 1, 1, 1)
        shift = bias_shift(float_weights[weight], w_deq, means[tensor])
        bias = init[bdq.input[0]]
        new = corrected_bias(numpy_helper.to_array(bias), numpy_helper.to_array(init[bdq.input[1]]), shift)
        bias.CopyFrom(numpy_helper.from_array(new, bias.name))
    onnx.save(qdq, str(qdq_model))
    return len(jobs)
