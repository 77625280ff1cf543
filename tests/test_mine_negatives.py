"""The hard-negative miner: only training pictures, only views the model fires on, empty labels."""
from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from edge.vision.detector import Detection  # noqa: E402
from models import mine_negatives as mn  # noqa: E402


class RedSeer:
    """A stand-in model: one garbage_bag wherever a picture holds pure red (a "confusing" scene)."""

    def detect(self, img):
        red = (img[..., 2] > 200) & (img[..., 1] < 50) & (img[..., 0] < 50)
        return [Detection("garbage_bag", 0.6, (0, 0, 4, 4))] if red.any() else [Detection("bin", 0.9, (0, 0, 4, 4))]


def _source(root: Path, name: str, paint_red: bool) -> Path:
    """A source picture (64x64) with one labelled bag in its left half; red on the right when asked."""
    img = np.full((64, 64, 3), 100, np.uint8)
    img[20:40, 2:18] = 250
    if paint_red:
        img[24:40, 44:60] = (0, 0, 255)
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "labels").mkdir(parents=True, exist_ok=True)
    path = root / "images" / f"{name}.rf.{0:032x}.jpg"
    cv2.imwrite(str(path), img)
    (root / "labels" / f"{path.stem}.txt").write_text("0 0.03 0.31 0.28 0.31 0.28 0.62 0.03 0.62\n")
    return path


def _dataset(tmp_path: Path) -> Path:
    src, data = tmp_path / "src", tmp_path / "ds"
    for folder, pictures in (("real_train", [("hard_a", True), ("easy_b", False)]), ("real_val", [("val_c", True)])):
        (data / folder / "images").mkdir(parents=True)
        for name, red in pictures:
            for k in range(2):  # two linked copies of one source: mined once
                os.symlink(_source(src / folder, name, red), data / folder / "images" / f"real_{name}_{k}.jpg")
    sim = data / "sim_train"
    for sub in ("images", "labels"):
        (sim / sub).mkdir(parents=True)
    for stem, label, red in (("sim_0000001", "", True), ("sim_0000002", "0 0.5 0.5 0.2 0.2\n", True),
                             ("sim_0000003", "1 0.5 0.5 0.2 0.2\n", False)):
        img = np.full((32, 32, 3), 80, np.uint8)
        if red:
            img[5:15, 5:15] = (0, 0, 255)
        cv2.imwrite(str(sim / "images" / f"{stem}.jpg"), img)
        (sim / "labels" / f"{stem}.txt").write_text(label)
    (data / "data.yaml").write_text(f"path: {data}\ntrain:\n  - sim_train/images\n  - real_train/images\n"
                                    "val:\n  - real_val/images\nnames:\n  0: garbage_bag\n")
    return data


def _neg_train(data: Path) -> None:
    """build_dataset.py's training negatives for the two sources: hard_a's largest strip and easy_b's."""
    for sub in ("images", "labels"):
        (data / "neg_train" / sub).mkdir(parents=True)
    for stem in ("hard_a", "easy_b"):
        img = np.full((40, 40, 3), 100, np.uint8)
        cv2.imwrite(str(data / "neg_train" / "images" / f"neg_{stem}_crop.jpg"), img)
        (data / "neg_train" / "labels" / f"neg_{stem}_crop.txt").write_text("")


def _review(data: Path, verdicts: dict[str, str], path: Path) -> Path:
    rows = (data / "neg_hard" / "review" / "review.csv").read_text().splitlines()
    out = [rows[0]] + [r + verdicts[r.split(",")[1]] for r in rows[1:]]
    path.write_text("\n".join(out) + "\n")
    return path


def test_first_run_asks_for_a_review_and_trains_on_nothing(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    _neg_train(data)
    monkeypatch.setattr(mn, "load_detector", lambda *a, **k: RedSeer())
    (data / "neg_hard" / "review").mkdir(parents=True)
    (data / "neg_hard" / "review" / "sheet_05.png").write_bytes(b"from a longer run before")
    assert mn.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    rows = (data / "neg_hard" / "review" / "review.csv").read_text().splitlines()
    views = [r.split(",")[1] for r in rows[1:]]
    # hard_a's strip right of its bag holds the red, and so does its painted twin; easy_b's views hold none;
    # the validation picture is never read; sim: only the bagless red scene (one with a labelled bag is no
    # negative). Then the training negatives it did not fire on (easy_b's crop), to be looked at as well.
    assert views == ["hard_a_strip0", "hard_a_masked", "sim_0000001", "easy_b_strip0"]
    assert all(r.endswith(",") for r in rows[1:])  # verdicts left for a person
    assert sorted(p.name for p in (data / "neg_hard" / "review").glob("sheet_*.png")) == ["sheet_00.png"]
    assert not (data / "data_hard.yaml").exists() and not list((data / "neg_hard").glob("images/*"))


def test_the_review_decides_what_is_trained_on(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    _neg_train(data)
    monkeypatch.setattr(mn, "load_detector", lambda *a, **k: RedSeer())
    assert mn.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    review = _review(data, {"hard_a_strip0": "bag", "hard_a_masked": "none", "sim_0000001": "none",
                            "easy_b_strip0": "none"}, tmp_path / "review.csv")
    assert mn.main(["--data", str(data), "--model", "unused.onnx", "--review", str(review), "--copies", "2"]) == 0
    images = sorted(p.name for p in (data / "neg_hard" / "images").iterdir())
    assert images == sorted(f"hard_{n}_{k}.jpg" for n in ("hard_a_masked", "sim_0000001") for k in (0, 1))
    assert all((data / "neg_hard" / "labels" / f"{Path(n).stem}.txt").read_text() == "" for n in images)
    # the strip marked bag is neg_train's crop of hard_a: it leaves the training negatives
    assert sorted(p.name for p in (data / "neg_train_reviewed" / "images").iterdir()) == ["neg_easy_b_crop.jpg"]
    report = json.loads((data / "neg_hard" / "mined.json").read_text())
    assert report["hard"] == 2 and report["bag"] == 1 and report["dropped_from_neg_train"] == 1
    assert report["by_kind"] == {"strip": 1, "masked": 1, "sim": 1}
    train, val = (data / "data_hard.yaml").read_text().split("\nval:")
    assert "- neg_hard/images" in train and "- real_train/images" in train and "real_val" in val


def test_a_verdict_that_is_neither_none_nor_bag_is_refused(tmp_path, monkeypatch, capsys):
    data = _dataset(tmp_path)
    _neg_train(data)
    monkeypatch.setattr(mn, "load_detector", lambda *a, **k: RedSeer())
    assert mn.main(["--data", str(data)]) == 0
    review = _review(data, {"hard_a_strip0": "bag", "hard_a_masked": "nope", "sim_0000001": "none",
                            "easy_b_strip0": "none"}, tmp_path / "review.csv")
    assert mn.main(["--data", str(data), "--review", str(review)]) == 2
    assert "'nope'" in capsys.readouterr().err and not (data / "data_hard.yaml").exists()


def test_view_names_map_to_the_training_negatives_both_ways():
    for view, name in (("IMG_1_jpeg_strip0", "neg_IMG_1_jpeg_crop.jpg"), ("2023-11-30-170634_png_masked",
                                                                        "neg_2023-11-30-170634_png_masked.jpg")):
        assert mn.neg_train_name(view) == name and mn.view_of_neg_train(name) == view
    assert mn.neg_train_name("IMG_1_jpeg_strip2") == "neg_IMG_1_jpeg_strip2.jpg"  # never in neg_train


def test_a_missing_dataset_is_one_line_and_exit_2(tmp_path, capsys):
    assert mn.main(["--data", str(tmp_path / "nothing")]) == 2
    assert "build the dataset first" in capsys.readouterr().err


def test_views_left_without_a_verdict_are_said(tmp_path, monkeypatch, capsys):
    data = _dataset(tmp_path)
    _neg_train(data)
    monkeypatch.setattr(mn, "load_detector", lambda *a, **k: RedSeer())
    review = tmp_path / "review.csv"
    review.write_text("index,view,max_conf,verdict\n0,hard_a_strip0,0.60,bag\n")
    assert mn.main(["--data", str(data), "--review", str(review)]) == 0
    report = json.loads((data / "neg_hard" / "mined.json").read_text())
    assert report["unreviewed"] == 3  # hard_a_masked, sim_0000001 and easy_b's crop
    assert "3 views have no verdict" in capsys.readouterr().err
    assert not list((data / "neg_hard" / "images").iterdir())  # nothing unreviewed is trained as a negative
