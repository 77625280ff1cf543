"""The precision/recall arithmetic of models/evaluate.py, on hand-made detections whose answer is
worked out by hand: the model card's AP50 and recall-at-precision figures come from it."""
from __future__ import annotations

import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def evaluate():
    sys.path.insert(0, str(ROOT / "models"))
    import evaluate

    return evaluate


# two pictures, four labelled bags; detections by confidence: 0.9 hit, 0.8 miss, 0.7 hit, 0.6 hit
PICTURES = [{"name": "real_a.jpg", "gt": 2, "scored": [(0.9, True), (0.7, True)]},
            {"name": "real_b.jpg", "gt": 2, "scored": [(0.8, False), (0.6, True)]}]


def test_pr_curve_by_hand(evaluate):
    curve = evaluate.pr_curve(PICTURES)
    assert curve["images"] == 2 and curve["gt"] == 4
    assert list(curve["confs"]) == [0.9, 0.8, 0.7, 0.6]
    assert list(curve["prec"]) == pytest.approx([1.0, 0.5, 2 / 3, 0.75])
    assert list(curve["rec"]) == pytest.approx([0.25, 0.25, 0.5, 0.75])
    # all-point interpolation: 0.25 of recall at precision 1, then 0.5 at the best later precision 0.75
    assert curve["ap50"] == pytest.approx(0.25 * 1.0 + 0.5 * 0.75)


def test_recall_at_precision_and_at_conf(evaluate):
    curve = evaluate.pr_curve(PICTURES)
    assert evaluate.best_recall_at_precision(curve, 0.85)["recall"] == 0.25
    assert evaluate.best_recall_at_precision(curve, 0.7)["recall"] == 0.75
    assert evaluate.at_conf(curve, 0.65) == {"conf": 0.65, "precision": 0.667, "recall": 0.5}
    assert evaluate.at_conf(curve, 0.95)["recall"] == 0.0


def test_a_subset_is_scored_on_its_own_labels(evaluate):
    # a subset's recall counts only its own pictures' bags: real_b alone is 1 of 2 found
    curve = evaluate.pr_curve([p for p in PICTURES if p["name"] == "real_b.jpg"])
    assert curve["gt"] == 2 and curve["ap50"] == pytest.approx(0.5 * 0.5)


def test_no_detection_scores_zero(evaluate):
    curve = evaluate.pr_curve([{"name": "x.jpg", "gt": 3, "scored": []}])
    assert curve["ap50"] == 0.0
    assert evaluate.best_recall_at_precision(curve, 0.85)["recall"] == 0.0


def test_false_bags_are_also_counted_on_the_pictures_reviewed_bag_free(evaluate, tmp_path, monkeypatch):
    import cv2
    import numpy as np

    from edge.vision.detector import Detection

    (tmp_path / "images").mkdir()
    bright = {"a.jpg": True, "b.jpg": True, "c.jpg": False, "d.jpg": False}
    for name, lit in bright.items():
        cv2.imwrite(str(tmp_path / "images" / name), np.full((16, 16, 3), 240 if lit else 20, np.uint8))

    class BrightSeer:  # a "bag" on every bright picture
        def detect(self, img):
            return [Detection("garbage_bag", 0.9, (0, 0, 4, 4))] if img.mean() > 128 else []

    monkeypatch.setattr(evaluate, "load_detector", lambda *a, **k: BrightSeer())
    # a.jpg shows a bag the labels missed: its "false" bag is no false bag
    report = evaluate.clean_rate(tmp_path, Path("m.onnx"), 416, 0.4, {"a.jpg": "bag", "b.jpg": "none", "c.jpg": "none"})
    assert report["images"] == 4 and report["with_false_bag"] == 2 and report["false_bag_rate"] == 0.5
    assert report["reviewed"] == {"images": 2, "with_false_bag": 1, "false_bag_rate": 0.5, "false_boxes": 1,
                                  "left_out_showing_a_bag": 1, "unreviewed": 1}
    assert "reviewed" not in evaluate.clean_rate(tmp_path, Path("m.onnx"), 416, 0.4)


def test_each_model_is_run_with_its_own_nms_iou(evaluate, tmp_path, monkeypatch, capsys):
    import cv2
    import numpy as np

    for name in ("sim_val", "clean_val"):
        (tmp_path / name / "images").mkdir(parents=True)
        (tmp_path / name / "labels").mkdir()
        cv2.imwrite(str(tmp_path / name / "images" / "a.jpg"), np.zeros((16, 16, 3), np.uint8))
    (tmp_path / "sim_val" / "labels" / "a.txt").write_text("0 0.5 0.5 0.5 0.5\n")
    asked = []

    class Blind:
        def detect(self, img):
            return []

    def load(backend, model, **kw):
        asked.append((Path(model).name, kw["iou"]))
        return Blind()

    monkeypatch.setattr(evaluate, "load_detector", load)
    assert evaluate.main(["--split", "val", "--data", str(tmp_path), "--model", "a.onnx", "--model", "b.onnx",
                          "--iou", "0.5", "--iou", "0.7", "--clean-review", str(tmp_path / "none.csv")]) == 0
    assert sorted(set(asked)) == [("a.onnx", 0.5), ("b.onnx", 0.7)]
    assert "| b.onnx @416 NMS 0.7 |" in capsys.readouterr().out


def test_confirmed_missing_bags_join_the_labels_of_their_source_picture(evaluate, tmp_path):
    # a pile of two bags, one labelled; the model finds both: a false bag as published, a hit once confirmed
    picture = {"name": "real_pile_0.jpg", "source": "pile.jpg", "size": (200, 100),
               "gts": [(0.0, 0.0, 50.0, 50.0)], "dets": [(0.9, (1.0, 1.0, 50.0, 50.0)), (0.8, (100.0, 50.0, 150.0, 100.0))]}
    review = tmp_path / "review.csv"
    review.write_text("index,view,max_conf,verdict\n0,pile.jpg@0.5000;0.5000;0.7500;1.0000,0.8,bag\n"
                      "1,pile.jpg@0.0000;0.6000;0.1000;0.9000,0.5,none\n2,other.jpg@0.1;0.1;0.2;0.2,0.4,bag\n")
    completions = evaluate.read_completions(review)
    assert completions == {"pile.jpg": [(0.5, 0.5, 0.75, 1.0)], "other.jpg": [(0.1, 0.1, 0.2, 0.2)]}
    published, completed = evaluate.scored([picture]), evaluate.scored([picture], completions)
    assert published == [{"name": "real_pile_0.jpg", "gt": 1, "scored": [(0.9, True), (0.8, False)]}]
    assert completed == [{"name": "real_pile_0.jpg", "gt": 2, "scored": [(0.9, True), (0.8, True)]}]
    assert evaluate.pr_curve(completed)["ap50"] == pytest.approx(1.0)


def test_a_broken_completions_file_is_one_clear_line(evaluate, tmp_path, capsys):
    bad = tmp_path / "review.csv"
    bad.write_text("index,view,max_conf,verdict\n0,a.jpg@0.5;0.5;0.4;0.9,0.3,bag\n")
    assert evaluate.main(["--data", str(tmp_path), "--completions", str(bad)]) == 2
    assert "an empty box" in capsys.readouterr().err


def test_a_box_mostly_inside_a_more_confident_one_is_dropped_only_when_asked(evaluate):
    big, inner, beside = (0.9, (0.0, 0.0, 100.0, 100.0)), (0.6, (10.0, 10.0, 50.0, 95.0)), (0.7, (80.0, 0.0, 140.0, 60.0))
    assert evaluate.drop_inside([inner, big, beside], None) == [inner, big, beside]
    # inner lies wholly within big; beside only a third: it stays
    assert evaluate.drop_inside([inner, big, beside], 0.9) == [big, beside]
    assert evaluate.drop_inside([inner, big, beside], 0.3) == [big]
