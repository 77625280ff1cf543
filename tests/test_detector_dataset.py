"""The training-set builder: polygon labels to boxes, split by source photo, disjoint sim seeds."""
from __future__ import annotations

import sys
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from models import build_dataset as bd  # noqa: E402


def test_polygon_labels_become_boxes(tmp_path):
    label = tmp_path / "a.txt"
    label.write_text("1 0.1 0.2 0.5 0.25 0.3 0.6\n0 0.7 0.7 0.9 0.7 0.8 0.95\n\n")
    lines = bd.real_box_lines(label)
    assert lines[0].split() == ["0", "0.300000", "0.400000", "0.400000", "0.400000"]
    assert lines[1].startswith("0 0.800000 0.825000 0.200000 0.250000")


def test_source_photo_name():
    assert bd.source_of("IMG_1509_jpeg.rf.0123abcd.jpg") == "IMG_1509_jpeg"


def test_seed_ranges_never_overlap():
    assert bd.SEED_TRAIN + 100_000 <= bd.SEED_VAL and bd.SEED_VAL + 100_000 <= bd.SEED_TEST


def _fake_real(root: Path) -> None:
    img = np.full((64, 64, 3), 128, np.uint8)
    for split, sources in (("train", ["s1", "s2", "s3", "s4", "s5"]), ("valid", ["v1"]), ("test", ["t1"])):
        (root / split / "images").mkdir(parents=True)
        (root / split / "labels").mkdir(parents=True)
        for s in sources:
            for k in range(3 if split == "train" else 1):
                name = f"{s}_jpg.rf.{k:032x}"
                cv2.imwrite(str(root / split / "images" / f"{name}.jpg"), img)
                (root / split / "labels" / f"{name}.txt").write_text("0 0.1 0.1 0.5 0.1 0.5 0.5 0.1 0.5\n")


def test_build_splits_real_photos_by_source(tmp_path):
    real = tmp_path / "real"
    _fake_real(real)
    out = tmp_path / "ds"
    assert bd.main(["--out", str(out), "--real", str(real), "--sim-train", "3", "--sim-val", "2", "--sim-test", "2",
                    "--holdout-sources", "1", "--val-sources", "1", "--real-copies", "2", "--workers", "1"]) == 0

    def sources(folder: str) -> set[str]:
        return {p.name.split(".rf.")[0][len("real_"):].rsplit("_", 1)[0] if folder == "real_train" else
                p.name.split(".rf.")[0][len("real_"):] for p in (out / folder / "images").iterdir()}
    train, val, test = sources("real_train"), sources("real_val"), sources("real_test")
    assert not train & test and not train & val and not val & test
    assert {"v1_jpg", "t1_jpg"} <= test and len(train) == 3 and len(val) == 1
    assert len(list((out / "real_train" / "images").iterdir())) == 3 * 3 * 2  # every copy listed twice
    assert len(list((out / "sim_train" / "images").iterdir())) == 3
    lab = (out / "real_train" / "labels").iterdir().__next__().read_text().split()
    assert lab[0] == "0" and float(lab[3]) == 0.4
    yaml = (out / "data.yaml").read_text()
    assert "sim_train/images" in yaml and "real_train/images" in yaml and "real_val/images" in yaml
    assert "- sim_val/images" in yaml and "neg_train/images" in yaml
    # negatives: every picture there is labelled empty, and none comes from a held-out source
    negs = sorted((out / "neg_train" / "labels").iterdir())
    assert negs and all(p.read_text() == "" for p in negs)
    assert not {p.stem.split("_jpg")[0] + "_jpg" for p in negs} & {f"neg_{s}" for s in test | val}


def test_truck_frames_split_by_recording(tmp_path):
    names = ["-2023-12-03-044419_png", "-2023-12-03-045000_png",  # a held-out recording (04:44)
             "-2023-12-03-051650_png",  # the validation recording (05:16)
             "Screenshot-2023-12-07-at-10-34-04-PM_png", "Screenshot-2023-12-07-223500-1-_png"]  # training
    images = []
    for n in names:
        for k in range(2):  # two augmented copies of each source frame: only one is used
            images.append(tmp_path / f"{n}.rf.{k:032x}.jpg")
    split = bd.split_truck(images)
    src = {k: {bd.source_of(p.name) for p in v} for k, v in split.items()}
    assert src["test"] == set(names[:2]) and src["val"] == {names[2]} and src["train"] == set(names[3:])
    assert sum(len(v) for v in split.values()) == len(names)
    assert bd.frame_time(names[3]).hour == 22 and bd.frame_time(names[4]).minute == 35


def test_negatives_hold_no_bag(tmp_path):
    img = np.full((100, 100, 3), 90, np.uint8)
    img[10:40, 10:40] = 250  # the "bag"
    poly = [np.array([[0.1, 0.1], [0.4, 0.1], [0.4, 0.4], [0.1, 0.4]], np.float32)]
    crop = bd.bag_free_crop(img, poly)
    assert crop is not None and crop.shape[0] * crop.shape[1] >= 0.35 * 100 * 100 and (crop < 200).all()
    painted = bd.bags_masked_out(img, poly)
    assert painted.shape == img.shape and float(painted[12:38, 12:38].mean()) < 150  # the bright bag is gone
    assert (painted[60:, 60:] == img[60:, 60:]).all()  # the rest is untouched


def test_every_bag_free_strip_misses_the_bags(tmp_path):
    img = np.full((100, 100, 3), 90, np.uint8)
    img[40:60, 10:30] = 250  # a bag left of centre: strips right of, above and below it
    poly = [np.array([[0.1, 0.4], [0.3, 0.4], [0.3, 0.6], [0.1, 0.6]], np.float32)]
    strips = bd.bag_free_strips(img, poly)
    assert len(strips) == 4 and strips[-1] is None  # the strip left of the bag is too narrow
    areas = [s.shape[0] * s.shape[1] for s in strips[:3]]
    assert areas == sorted(areas, reverse=True) and all((s < 200).all() for s in strips[:3])
    assert (bd.bag_free_crop(img, poly) == strips[0]).all()  # the single crop is still the largest strip
    assert bd.bag_free_strips(img, []) == [] and bd.bag_free_crop(img, []) is None


def test_validation_pictures_get_clean_twins(tmp_path):
    real = tmp_path / "real"
    _fake_real(real)
    out = tmp_path / "ds"
    assert bd.main(["--out", str(out), "--real", str(real), "--sim-train", "1", "--sim-val", "1", "--sim-test", "1",
                    "--holdout-sources", "1", "--val-sources", "1", "--workers", "1"]) == 0
    val_sources = {p.name.split(".rf.")[0][len("real_"):] for p in (out / "real_val" / "images").iterdir()}
    clean = sorted((out / "clean_val" / "images").iterdir())
    assert clean and {p.name[len("cleanval_"):].split("_jpg")[0] + "_jpg" for p in clean} == val_sources
    assert all((out / "clean_val" / "labels" / f"{p.stem}.txt").read_text() == "" for p in clean)
    assert "clean_val" not in (out / "data.yaml").read_text()  # never trained on
