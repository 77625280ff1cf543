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
