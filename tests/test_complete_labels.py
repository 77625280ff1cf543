"""Label completion: only training pictures, only boxes no label explains, only what a person confirmed."""
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
from models import complete_labels as cl  # noqa: E402


class WhiteSeer:
    """A stand-in model: a garbage_bag around each pure-white square (the bags of these pictures)."""

    def detect(self, img):
        out = []
        mask = (img.min(axis=2) > 240).astype(np.uint8)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask)
        for x, y, w, h, _ in stats[1:n]:
            out.append(Detection("garbage_bag", 0.7, (float(x), float(y), float(x + w), float(y + h))))
        return out + [Detection("bin", 0.9, (0.0, 0.0, 8.0, 8.0))]


def _picture(root: Path, name: str, bags: list[tuple[int, int]]) -> Path:
    """A 100x100 picture with a white 20x20 bag at each (x, y)."""
    img = np.full((100, 100, 3), 90, np.uint8)
    for x, y in bags:
        img[y:y + 20, x:x + 20] = 255
    root.mkdir(parents=True, exist_ok=True)
    path = root / f"{name}.jpg"
    cv2.imwrite(str(path), img, [cv2.IMWRITE_JPEG_QUALITY, 100])
    return path


def _dataset(tmp_path: Path) -> Path:
    """Two training pictures (listed twice, one bag of two labelled in the first) and a validation one."""
    src, data = tmp_path / "src", tmp_path / "ds"
    for folder, name, bags, labelled in (("real_train", "pile", [(10, 10), (60, 60)], "0 0.2 0.2 0.2 0.2\n"),
                                         ("truck_train", "frame", [(40, 40)], "0 0.5 0.5 0.2 0.2\n"),
                                         ("real_val", "val", [(10, 10), (60, 60)], "0 0.2 0.2 0.2 0.2\n")):
        picture = _picture(src / folder, name, bags)
        for sub in ("images", "labels"):
            (data / folder / sub).mkdir(parents=True, exist_ok=True)
        for k in range(2):
            os.symlink(picture, data / folder / "images" / f"real_{name}_{k}.jpg")
            (data / folder / "labels" / f"real_{name}_{k}.txt").write_text(labelled)
    (data / "data.yaml").write_text(f"path: {data}\ntrain:\n  - sim_train/images\n  - real_train/images\n"
                                    "  - truck_train/images\nval:\n  - real_val/images\n  - truck_val/images\n"
                                    "names:\n  0: garbage_bag\n")
    return data


def _fill(data: Path, verdict: str, path: Path) -> Path:
    rows = (data / "labels_added" / "review" / "review.csv").read_text().splitlines()
    path.write_text("\n".join([rows[0]] + [r + verdict for r in rows[1:]]) + "\n")
    return path


def test_only_the_unlabelled_bag_of_a_training_picture_is_proposed(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    monkeypatch.setattr("edge.vision.detector.load_detector", lambda *a, **k: WhiteSeer())
    assert cl.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    rows = (data / "labels_added" / "review" / "review.csv").read_text().splitlines()
    # pile's second bag; its labelled one, the truck frame's labelled bag and the validation picture are not
    assert [r.split(",")[1] for r in rows[1:]] == ["pile.jpg@0.6000;0.6000;0.8000;0.8000"]
    assert rows[1].endswith(",")  # the verdict is a person's
    assert (data / "labels_added" / "review" / "sheet_00.png").is_file()
    assert not (data / "data_complete.yaml").exists()


def test_confirmed_boxes_join_every_copy_and_the_yaml_swaps_folders(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    monkeypatch.setattr("edge.vision.detector.load_detector", lambda *a, **k: WhiteSeer())
    assert cl.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    review = _fill(data, "bag", tmp_path / "review.csv")
    assert cl.main(["--data", str(data), "--review", str(review)]) == 0
    for k in range(2):
        lines = (data / "real_train_completed" / "labels" / f"real_pile_{k}.txt").read_text().splitlines()
        assert lines == ["0 0.2 0.2 0.2 0.2", "0 0.700000 0.700000 0.200000 0.200000"]
        assert (data / "real_train_completed" / "images" / f"real_pile_{k}.jpg").resolve().name == "pile.jpg"
    assert (data / "truck_train_completed" / "labels" / "real_frame_0.txt").read_text() == "0 0.5 0.5 0.2 0.2\n"
    assert (data / "real_val" / "labels" / "real_val_0.txt").read_text() == "0 0.2 0.2 0.2 0.2\n"  # untouched
    train, val = (data / "data_complete.yaml").read_text().split("\nval:")
    assert "- real_train_completed/images" in train and "- truck_train_completed/images" in train
    assert "- real_train/images" not in train and "real_val/images" in val and "truck_val/images" in val
    report = json.loads((data / "labels_added.json").read_text())
    assert report["bag"] == 1 and report["pictures_completed"] == 1 and report["linked"] == 4


def test_a_rejected_box_adds_nothing(tmp_path, monkeypatch):
    data = _dataset(tmp_path)
    monkeypatch.setattr("edge.vision.detector.load_detector", lambda *a, **k: WhiteSeer())
    assert cl.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    assert cl.main(["--data", str(data), "--review", str(_fill(data, "none", tmp_path / "r.csv"))]) == 0
    assert (data / "real_train_completed" / "labels" / "real_pile_0.txt").read_text() == "0 0.2 0.2 0.2 0.2\n"


def test_a_typo_in_the_review_is_refused_and_writes_nothing(tmp_path, monkeypatch, capsys):
    data = _dataset(tmp_path)
    monkeypatch.setattr("edge.vision.detector.load_detector", lambda *a, **k: WhiteSeer())
    assert cl.main(["--data", str(data), "--model", "unused.onnx"]) == 0
    assert cl.main(["--data", str(data), "--review", str(_fill(data, "bga", tmp_path / "r.csv"))]) == 2
    assert "'bga'" in capsys.readouterr().err and not (data / "data_complete.yaml").exists()


def test_part_of_a_labelled_pile_is_explained_but_a_neighbour_is_not():
    labelled = [(0.0, 0.0, 100.0, 100.0)]
    inside = Detection("garbage_bag", 0.8, (10.0, 10.0, 40.0, 40.0))  # IoU 0.09, but wholly inside
    beside = Detection("garbage_bag", 0.8, (90.0, 0.0, 150.0, 60.0))  # a sixth of it overlaps
    assert cl.unexplained([inside, beside], labelled) == [beside]


def test_a_candidate_name_round_trips_its_box():
    from models.review_sheets import parse_view

    name = cl.view_name("IMG_7.rf.ab.jpg", (10.0, 20.0, 50.0, 80.0), 200, 100)
    assert parse_view(name) == ("IMG_7.rf.ab.jpg", (0.05, 0.2, 0.25, 0.8))


def test_eval_mode_proposes_in_the_validation_pictures_and_never_rewrites_them(tmp_path, monkeypatch, capsys):
    data = _dataset(tmp_path)
    monkeypatch.setattr("edge.vision.detector.load_detector", lambda *a, **k: WhiteSeer())
    assert cl.main(["--data", str(data), "--eval", "--model", "a.onnx", "--model", "b.onnx"]) == 0
    rows = (data / "labels_added" / "review_eval" / "review.csv").read_text().splitlines()
    # the validation picture's unlabelled bag, once although two models proposed it; no training picture
    assert [r.split(",")[1] for r in rows[1:]] == ["val.jpg@0.6000;0.6000;0.8000;0.8000"]
    assert not (data / "labels_added" / "review").exists()
    review = tmp_path / "r.csv"
    review.write_text(rows[0] + "\n" + rows[1] + "bag\n")
    assert cl.main(["--data", str(data), "--eval", "--review", str(review)]) == 2
    assert "evaluate.py --completions" in capsys.readouterr().err
    assert (data / "real_val" / "labels" / "real_val_0.txt").read_text() == "0 0.2 0.2 0.2 0.2\n"
