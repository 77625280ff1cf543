"""models/view_merge.py: two views of a picture merged into one set of detections, as
`models/evaluate.py --merge` measures them. A stand-in head boxes the bright stripe of its input,
so the mirrored view's box lands on the same place only if it is mirrored back correctly."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.vision.detector import OnnxDetector  # noqa: E402
from models import view_merge  # noqa: E402

SIZE = 64


class StripeHead:
    """A head output (1, 4+3, 1): one garbage_bag box of width 20 centred on the bright columns
    of the input (or at a fixed place), with a fixed score."""

    def __init__(self, score: float, at: float | None = None):
        self.score, self.at = score, at

    def run(self, _, feeds):
        blob = feeds["images"][0, 0]
        weight = blob.sum(axis=0)
        cx = self.at if self.at is not None else float((weight * (np.arange(blob.shape[1]) + 0.5)).sum() / weight.sum())
        return [np.array([[[cx], [32.0], [20.0], [20.0], [self.score], [0.0], [0.0]]], np.float32)]


class Model:
    """What MergedDetector reads of an OnnxDetector, with the real preprocessing."""

    imgsz, stride, dynamic, input_name = SIZE, 32, False, "images"
    conf, iou, names = 0.4, 0.5, ("garbage_bag", "bin", "person")
    preprocess, detect, detections = OnnxDetector.preprocess, OnnxDetector.detect, OnnxDetector.detections

    def __init__(self, head: StripeHead):
        self.session = head


def frame_with_stripe() -> np.ndarray:
    frame = np.zeros((SIZE, SIZE, 3), np.uint8)
    frame[:, 10:14] = 255  # off centre: a mirror not undone would put the box at x 50-54
    return frame


def test_a_mirrored_output_is_put_back_in_the_pictures_coordinates():
    out = np.array([[[10.0, 60.0], [5.0, 6.0], [3.0, 4.0], [2.0, 2.0], [0.9, 0.1]]])
    back = view_merge.mirrored_output(out, 64)
    assert back[0, 0].tolist() == [54.0, 4.0]
    assert (back[0, 1:] == out[0, 1:]).all()
    assert out[0, 0].tolist() == [10.0, 60.0]  # the input is left as it was


def test_mean_merge_averages_what_both_views_see_and_halves_what_one_sees():
    a = [(0, 0.9, (0.0, 0.0, 10.0, 10.0)), (0, 0.7, (50.0, 50.0, 60.0, 60.0))]
    b = [(0, 0.5, (1.0, 0.0, 11.0, 10.0)), (1, 0.9, (50.0, 50.0, 60.0, 60.0)), (0, 0.3, (80.0, 80.0, 90.0, 90.0))]
    merged = view_merge.mean_merge(a, b, conf=0.3)
    assert [(c, round(s, 3)) for c, s, _ in merged] == [(0, 0.7), (1, 0.45), (0, 0.35)]
    # the matched boxes averaged by score: 0.9 * 0 + 0.5 * 1 over 1.4
    assert merged[0][2][0] == pytest.approx(0.5 / 1.4)
    # another class never matches, and a box under conf after halving is dropped (0.3 / 2)
    assert all(box != (80.0, 80.0, 90.0, 90.0) for _, _, box in merged)


def test_the_mirrored_view_agrees_with_the_picture_itself():
    det = view_merge.MergedDetector(Model(StripeHead(0.8)), how="mean")
    (found,) = det.detect(frame_with_stripe())
    assert found.cls == "garbage_bag"
    assert found.conf == pytest.approx(0.8)  # both views found it at the same place: not halved
    assert (found.xyxy[0] + found.xyxy[2]) / 2 == pytest.approx(12.0)


def test_two_models_that_disagree_are_halved_by_mean_and_both_kept_by_max():
    first, second = Model(StripeHead(0.9)), Model(StripeHead(0.9, at=48.0))
    mean = view_merge.MergedDetector(first, second, how="mean").detect(frame_with_stripe())
    assert sorted(round(d.conf, 3) for d in mean) == [0.45, 0.45]
    most = view_merge.MergedDetector(first, second, how="max").detect(frame_with_stripe())
    assert sorted(round((d.xyxy[0] + d.xyxy[2]) / 2) for d in most) == [12, 48]
    assert all(d.conf == pytest.approx(0.9) for d in most)


def test_a_wrong_merge_is_refused():
    with pytest.raises(ValueError, match="how must be"):
        view_merge.MergedDetector(Model(StripeHead(0.9)), how="vote")
    other = Model(StripeHead(0.9))
    other.imgsz = 320
    with pytest.raises(ValueError, match="same input size"):
        view_merge.MergedDetector(Model(StripeHead(0.9)), other)


def test_evaluate_merges_the_views_it_is_asked_to(tmp_path, monkeypatch, capsys):
    import cv2

    sys.path.insert(0, str(ROOT / "models"))
    import evaluate

    for name in ("sim_val",):
        (tmp_path / name / "images").mkdir(parents=True)
        (tmp_path / name / "labels").mkdir()
        cv2.imwrite(str(tmp_path / name / "images" / "a.png"), frame_with_stripe())
    # the label is the stripe's box in frame pixels: x 2-22, y 22-42
    (tmp_path / "sim_val" / "labels" / "a.txt").write_text("0 0.1875 0.5 0.3125 0.3125\n")
    heads = {"a.onnx": StripeHead(0.9), "b.onnx": StripeHead(0.9, at=48.0)}
    monkeypatch.setattr(evaluate, "load_detector", lambda backend, model, **kw: Model(heads[Path(model).name]))
    (tmp_path / "b.onnx").write_bytes(b"")
    args = ["--split", "val", "--data", str(tmp_path), "--clean-review", str(tmp_path / "none.csv"),
            "--json", str(tmp_path / "out.json")]
    assert evaluate.main(args + ["--model", "a.onnx", "--model", "a.onnx", "--model", "a.onnx", "--merge", "none",
                                 "--merge", "flip", "--merge", f"{tmp_path / 'b.onnx'}:max"]) == 0
    out = capsys.readouterr().out
    assert "| a.onnx @416 | a.onnx @416 + flip (mean) | a.onnx @416 + b.onnx (max) |" in out
    import json

    one, flip, both = json.loads((tmp_path / "out.json").read_text())
    assert one["sim_val"]["ap50"] == flip["sim_val"]["ap50"] == 1.0
    # the second model's box is a false bag at the same score as the true one
    assert both["sim_val"]["ap50"] < 1.0
    with pytest.raises(SystemExit):
        evaluate.main(args + ["--model", "a.onnx", "--merge", str(tmp_path / "missing.onnx")])
    assert "no model file" in capsys.readouterr().err
