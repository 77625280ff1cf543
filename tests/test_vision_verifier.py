"""The bag verifier: the crop it is shown, the blended score, the floor that loses no box, and a
real ONNX classifier run through onnxruntime on the crop."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

from edge.vision.detector import PAD_VALUE, Detection, ModelError
from edge.vision.verifier import CropVerifier, VerifiedDetector, blend, crop_box, detector_floor, to_input

# the scripts of models/ import each other by name; the tests import them inside each test
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "models"))


def test_crop_is_the_box_squared_with_its_margin():
    frame = np.zeros((100, 200, 3), np.uint8)
    frame[40:60, 90:130] = 255  # a white 40 x 20 box
    crop = crop_box(frame, (90, 40, 130, 60), size=52, margin=0.15)
    # the longer side (40) plus 15 % each side is 52 pixels: one pixel per output pixel
    assert crop.shape == (52, 52, 3)
    white = crop[:, :, 0] == 255
    ys, xs = np.nonzero(white)
    assert (xs.min(), xs.max()) == (6, 45) and (ys.min(), ys.max()) == (16, 35)
    assert white.sum() == 40 * 20


def test_crop_leaving_the_frame_is_padded_grey():
    frame = np.full((50, 50, 3), 10, np.uint8)
    crop = crop_box(frame, (0, 0, 20, 20), size=26, margin=0.15)
    assert (crop[0, 0] == PAD_VALUE).all() and (crop[-1, -1] == 10).all()
    # a box wholly outside still gives a crop (all grey), not an error
    assert (crop_box(frame, (80, 80, 90, 90), 16) == PAD_VALUE).all()


def test_input_is_rgb_in_efficientnet_lite_range():
    crop = np.zeros((4, 4, 3), np.uint8)
    crop[..., 2] = 255  # red in BGR
    x = to_input([crop])
    assert x.shape == (1, 3, 4, 4) and x.dtype == np.float32
    assert np.allclose(x[0, 0], 128 / 128) and np.allclose(x[0, 1], -127 / 128)


@pytest.mark.parametrize("threshold,weight", [(0.4, 0.5), (0.25, 0.3), (0.6, 0.7)])
def test_the_floor_is_exactly_the_lowest_score_that_can_pass(threshold, weight):
    floor = detector_floor(threshold, weight)
    assert blend(floor, 1.0, weight) == pytest.approx(threshold)
    assert blend(floor * 0.99, 1.0, weight) < threshold  # below it, even a certain verifier cannot lift a box


class FakeDetector:
    names, backend, imgsz = ("garbage_bag", "bin", "person"), "onnx", 416

    def __init__(self, dets):
        self.dets, self.conf = dets, 0.4

    def detect(self, frame):
        return [d for d in self.dets if d.conf >= self.conf]


class FixedVerifier:
    def __init__(self, by_x):
        self.by_x = by_x  # a box's left edge -> the probability the verifier gives it

    def probs(self, frame, boxes):
        return np.array([self.by_x[int(b[0])] for b in boxes])


def test_bags_are_rescored_and_other_classes_pass():
    dets = [Detection("garbage_bag", 0.9, (0, 0, 10, 10)), Detection("garbage_bag", 0.9, (20, 0, 30, 10)),
            Detection("garbage_bag", 0.2, (40, 0, 50, 10)), Detection("bin", 0.5, (60, 0, 70, 10), 1),
            Detection("person", 0.3, (80, 0, 90, 10), 2)]
    inner = FakeDetector(dets)
    det = VerifiedDetector(inner, FixedVerifier({0: 0.9, 20: 0.05, 40: 1.0}), weight=0.5, conf=0.4)
    assert inner.conf == pytest.approx(0.16)  # 0.4 ** 2: the floor the blend needs
    out = det.detect(np.zeros((10, 100, 3), np.uint8))
    # the bag only the detector believes falls (0.9 * 0.05 -> 0.21); the low one a sure verifier
    # lifts (0.2 * 1.0 -> 0.447); the bin passes; the person stays under the threshold
    assert [(d.cls, d.xyxy[0], round(d.conf, 3)) for d in out] == [
        ("garbage_bag", 0, 0.9), ("bin", 60, 0.5), ("garbage_bag", 40, 0.447)]


def tiny_classifier(path, size=8):
    """A real ONNX classifier: the logit is 10 x (mean of the red channel) + 5, so a crop mostly red says bag."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper

    nodes = [helper.make_node("Slice", ["x", "s", "e", "a"], ["red"]),
             helper.make_node("ReduceMean", ["red"], ["m"], axes=[1, 2, 3], keepdims=0),
             helper.make_node("Mul", ["m", "ten"], ["t"]), helper.make_node("Add", ["t", "five"], ["logit"])]
    inits = [helper.make_tensor("s", TensorProto.INT64, [1], [0]), helper.make_tensor("e", TensorProto.INT64, [1], [1]),
             helper.make_tensor("a", TensorProto.INT64, [1], [1]), helper.make_tensor("ten", TensorProto.FLOAT, [], [10.0]),
             helper.make_tensor("five", TensorProto.FLOAT, [], [5.0])]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 3, size, size])],
                              [helper.make_tensor_value_info("logit", TensorProto.FLOAT, ["n"])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    model.doc_string = "a classifier for tests; " * 60  # a real model is never under 1 kB (_check_file)
    onnx.save(model, str(path))
    return path


def test_a_real_onnx_verifier_scores_each_crop(tmp_path):
    v = CropVerifier(tiny_classifier(tmp_path / "v.onnx"), threads=1)
    assert v.size == 8
    frame = np.zeros((60, 60, 3), np.uint8)
    frame[5:25, 5:25] = (0, 0, 255)  # red square (BGR)
    p = v.probs(frame, [(5, 5, 25, 25), (35, 35, 55, 55)])
    assert p[0] > 0.9 and p[1] < 0.1
    assert v.probs(frame, []).shape == (0,)


def test_a_file_that_is_no_verifier_is_a_model_error(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        CropVerifier(tmp_path / "missing.onnx")
    (tmp_path / "junk.onnx").write_bytes(b"junk" * 500)
    with pytest.raises(ModelError, match="not a usable ONNX file"):
        CropVerifier(tmp_path / "junk.onnx")


SHIPPED = Path(__file__).resolve().parent.parent / "models" / "bag-verifier-int8.onnx"
SHIPPED_FLOAT = SHIPPED.with_name("bag-verifier.onnx")


@pytest.mark.skipif(not SHIPPED.is_file(), reason="the shipped verifier models/bag-verifier-int8.onnx is absent")
def test_the_default_config_wraps_the_detector_and_rescores_its_bags():
    from edge.config import load_file
    from edge.vision.pipeline import make_detector
    from hw.sim import SimRoom

    root = SHIPPED.parent.parent
    cfg = load_file(root / "config" / "default.yaml")
    det = make_detector(cfg, root / "config")
    assert isinstance(det, VerifiedDetector) and det.verifier.size == 128
    frame, _truth = SimRoom("bag_removed_by_cleaner", seed=0).render(100.0)  # a bag on the floor
    raw = det.detector.detect(frame)
    bags = [d for d in raw if d.cls == "garbage_bag"]
    p = det.verifier.probs(frame, [d.xyxy for d in bags])
    expected = sorted(round(float(blend(d.conf, q, cfg.vision.verifier.weight)), 5) for d, q in zip(bags, p)
                      if blend(d.conf, q, cfg.vision.verifier.weight) >= cfg.vision.conf)
    got = det.detect(frame)
    assert expected and sorted(round(d.conf, 5) for d in got if d.cls == "garbage_bag") == expected
    assert p.max() > 0.5  # the simulated bag is a bag to the verifier too
    # turned off, the config's detector is the bare one
    cfg.vision.verifier.model = ""
    assert not isinstance(make_detector(cfg, root / "config"), VerifiedDetector)


def test_evaluate_rescores_bags_with_the_verifier_it_is_asked_to(tmp_path, monkeypatch, capsys):
    import json

    import cv2

    import evaluate

    (tmp_path / "sim_val" / "images").mkdir(parents=True)
    (tmp_path / "sim_val" / "labels").mkdir()
    img = np.zeros((64, 64, 3), np.uint8)
    img[8:24, 8:24] = (0, 0, 255)  # the labelled bag is red; the other box holds nothing red
    cv2.imwrite(str(tmp_path / "sim_val" / "images" / "a.png"), img)
    (tmp_path / "sim_val" / "labels" / "a.txt").write_text("0 0.25 0.25 0.25 0.25\n")

    class TwoBoxes(FakeDetector):  # the detector is surer of the empty box than of the bag
        def __init__(self):
            self.conf = 0.05

        def detect(self, frame):
            found = [Detection("garbage_bag", 0.9, (40, 40, 56, 56)), Detection("garbage_bag", 0.6, (8, 8, 24, 24))]
            return [d for d in found if d.conf >= self.conf]

    monkeypatch.setattr(evaluate, "load_detector", lambda backend, model, **kw: TwoBoxes())
    verifier = tiny_classifier(tmp_path / "v.onnx")
    args = ["--split", "val", "--data", str(tmp_path), "--clean-review", str(tmp_path / "none.csv"),
            "--json", str(tmp_path / "out.json"), "--model", "a.onnx", "--model", "a.onnx"]
    assert evaluate.main(args + ["--verify", "none", "--verify", f"{verifier}:0.5"]) == 0
    assert "| a.onnx @416 | a.onnx @416 verified by v.onnx (w 0.5) |" in capsys.readouterr().out
    alone, verified = json.loads((tmp_path / "out.json").read_text())
    # alone the false box ranks first; the verifier puts the bag first
    assert alone["sim_val"]["ap50"] < 1.0 and verified["sim_val"]["ap50"] == 1.0
    with pytest.raises(SystemExit):
        evaluate.main(args + ["--verify", str(tmp_path / "missing.onnx")])
    assert "no verifier file" in capsys.readouterr().err


@pytest.mark.skipif(not (SHIPPED.is_file() and SHIPPED_FLOAT.is_file()), reason="the shipped verifier pair is absent")
def test_the_shipped_int8_verifier_scores_like_its_float_twin():
    from hw.sim import SimRoom

    boxes, frames = [], []
    for seed in range(4):  # the bag on the floor of four renderings, and a box on the wall
        frame, truth = SimRoom("bag_removed_by_cleaner", seed=9000 + seed).render(100.0)
        frames.append(frame)
        boxes.append([o.xyxy for o in truth if o.cls == "garbage_bag"] + [(20, 20, 120, 120)])
    q, f = CropVerifier(SHIPPED, threads=1), CropVerifier(SHIPPED_FLOAT, threads=1)
    pq = np.concatenate([q.probs(fr, b) for fr, b in zip(frames, boxes)])
    pf = np.concatenate([f.probs(fr, b) for fr, b in zip(frames, boxes)])
    assert len(pq) >= 5 and np.abs(pq - pf).max() < 0.1


def tiny_conv_classifier(path, size=16):
    """A real conv classifier: Conv 3->4 (3x3), Relu, global average pool, a one-logit Gemm head."""
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    rng = np.random.default_rng(0)
    inits = [numpy_helper.from_array(rng.normal(0, 0.3, (4, 3, 3, 3)).astype(np.float32), "w"),
             numpy_helper.from_array(rng.normal(0, 0.1, 4).astype(np.float32), "b"),
             numpy_helper.from_array(rng.normal(0, 1, (1, 4)).astype(np.float32), "hw"),
             numpy_helper.from_array(np.zeros(1, np.float32), "hb")]
    nodes = [helper.make_node("Conv", ["crops", "w", "b"], ["c"], pads=[1, 1, 1, 1], name="conv"),
             helper.make_node("Relu", ["c"], ["r"], name="relu"),
             helper.make_node("GlobalAveragePool", ["r"], ["g"], name="pool"),
             helper.make_node("Flatten", ["g"], ["f"], name="flat"),
             helper.make_node("Gemm", ["f", "hw", "hb"], ["logits"], transB=1, name="head")]
    graph = helper.make_graph(nodes, "tiny", [helper.make_tensor_value_info("crops", TensorProto.FLOAT, ["n", 3, size, size])],
                              [helper.make_tensor_value_info("logits", TensorProto.FLOAT, ["n", 1])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)])
    model.ir_version = 8
    onnx.save(model, str(path))
    return path


def test_quantize_verifier_makes_int8_convs_keeps_the_head_float_and_agrees(tmp_path):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime.quantization")
    import quantize_verifier
    from train_verifier import PAD

    size = 16
    model = tiny_conv_classifier(tmp_path / "v.onnx", size)
    rng = np.random.default_rng(1)
    train = {"x": rng.integers(0, 256, (60, size + 2 * PAD, size + 2 * PAD, 3), dtype=np.uint8), "y": np.zeros(60)}
    blobs = quantize_verifier.calibration_crops(train, 40, size, seed=0)
    assert len(blobs) == 40 and blobs[0].shape == (1, 3, size, size)
    out = tmp_path / "v-int8.onnx"
    quantize_verifier.quantize_verifier(model, out, blobs)
    graph = onnx.load(str(out)).graph
    int8 = {i.name for i in graph.initializer if i.data_type == onnx.TensorProto.INT8}
    dequantized = {n.output[0]: n.input[0] for n in graph.node if n.op_type == "DequantizeLinear"}
    conv = next(n for n in graph.node if n.op_type == "Conv")
    head = next(n for n in graph.node if n.op_type == "Gemm")
    assert dequantized.get(conv.input[1]) in int8  # the conv's weights are int8
    assert head.input[1] not in dequantized  # the head's weights stay float
    import onnxruntime as ort

    x = np.concatenate(blobs[:20])
    lf = ort.InferenceSession(str(model)).run(None, {"crops": x})[0]
    lq = ort.InferenceSession(str(out)).run(None, {"crops": x})[0]
    assert np.abs(lq - lf).max() < 0.05 * (np.abs(lf).max() + 1e-6) + 0.02
    # a missing dataset and cache is one line and exit 2
    assert quantize_verifier.main([str(model), "--data", str(tmp_path / "none"), "--work", str(tmp_path / "w")]) == 2


def test_auc_and_recall_at_precision_by_hand():
    import train_verifier as tv
    y = np.array([1, 0, 1, 0, 1], np.float32)
    s = np.array([0.9, 0.8, 0.7, 0.2, 0.1])
    # pairs (bag above not-bag): 0.9 beats both, 0.7 beats 0.2, 0.1 beats none -> 3 of 6
    assert tv.auc(y, s) == pytest.approx(3 / 6)
    assert tv.auc(np.array([1, 0], np.float32), np.array([0.5, 0.5])) == pytest.approx(0.5)  # a tie is half
    # by score: bag, not, bag, not, bag -> precision 1, 0.5, 0.67, 0.5, 0.6: only the first reaches 0.85
    assert tv.recall_at(y, s, 0.85) == pytest.approx(1 / 3)


def test_train_verifier_without_a_dataset_is_one_clear_line(tmp_path, capsys):
    import train_verifier as tv
    assert tv.main(["--data", str(tmp_path / "none"), "--work", str(tmp_path / "w")]) == 2
    assert "no dataset at" in capsys.readouterr().err
    assert not (tmp_path / "w").exists()


def test_the_pretrained_start_is_checksummed_and_has_one_logit():
    pytest.importorskip("efficientnet_lite_pytorch", reason="the verifier extra is not installed")
    torch = pytest.importorskip("torch")
    import train_verifier

    net = train_verifier.pretrained_network()
    net.eval()
    with torch.no_grad():
        out = net(torch.zeros(2, 3, 128, 128))
    assert tuple(out.shape) == (2, 1)
