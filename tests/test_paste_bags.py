"""models/paste_bags.py: real bags cut along their outlines and pasted, with labels that say where."""
import random
import sys
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from models import paste_bags  # noqa: E402
from models.paste_bags import Cutout, cut_bags, paste  # noqa: E402

RED = (0, 0, 255)


def red_bag(size=40) -> Cutout:
    """A red disc: its pixels and its outline."""
    pixels = np.zeros((size, size, 3), np.uint8)
    pixels[:] = RED
    mask = np.zeros((size, size), np.uint8)
    cv2.circle(mask, (size // 2, size // 2), size // 2 - 1, 255, -1)
    pixels[mask == 0] = (0, 255, 0)  # the source's background: must never be pasted
    return Cutout(pixels, mask)


def red_pixels(img):
    b, g, r = (img[..., i].astype(int) for i in range(3))
    return (r > 190) & (g < 64) & (b < 64)  # more bag than background (alpha > 0.5 on grey 128)


def test_cut_bags_takes_whole_bags_and_skips_cut_or_tiny_ones():
    img = np.full((200, 200, 3), 128, np.uint8)
    whole = np.array([[0.2, 0.2], [0.5, 0.2], [0.35, 0.6]], np.float32)
    at_edge = np.array([[0.0, 0.5], [0.3, 0.5], [0.1, 0.9]], np.float32)
    sliver = np.array([[0.7, 0.7], [0.72, 0.7], [0.71, 0.72]], np.float32)
    cv2.fillPoly(img, [np.round(whole * 200).astype(np.int32)], RED)
    cornered = np.array([[0.6, 0.1], [0.9, 0.1], [0.9, 0.4], [0.6, 0.4]], np.float32)
    img[20:80, 120:180] = RED
    img[60:80, 160:180] = 255  # a letterbox corner across a quarter of the bag
    cuts = cut_bags(img, [whole, at_edge, sliver, cornered])
    assert len(cuts) == 1
    cut = cuts[0]
    assert cut.mask.shape == cut.pixels.shape[:2]
    assert abs(cut.mask.shape[0] - 80) <= 1 and abs(cut.mask.shape[1] - 60) <= 1
    inside = cut.mask > 0
    assert red_pixels(cut.pixels)[inside].mean() > 0.95  # the outline holds the bag
    assert 0.4 < inside.mean() < 0.6  # a triangle fills half its box


def test_pasted_bags_are_labelled_where_they_land():
    bg = np.full((240, 320, 3), 128, np.uint8)
    for seed in range(20):
        out, boxes = paste(bg, [], [red_bag(), red_bag(60)], random.Random(seed))
        bags = [b for b in boxes if b[0] == 0]
        assert 1 <= len(bags) <= 2
        red = red_pixels(out)
        assert red.any()
        inside = np.zeros_like(red)
        for _, x1, y1, x2, y2 in bags:
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
            assert y2 > 0.45 * 240  # on the floor part of the picture
            inside[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))] = True
            assert red[int(y1):int(np.ceil(y2)), int(x1):int(np.ceil(x2))].mean() > 0.5  # the box is tight
        assert not (red & ~inside).any()  # no bag pixel outside a label
        g = out[..., 1].astype(int)
        assert not ((g > 200) & (out[..., 2] < 80)).any()  # nothing of the source's background


def test_background_labels_covered_by_bags_are_dropped_and_others_kept():
    bg = np.full((120, 160, 3), 128, np.uint8)
    small = (1, 60.0, 80.0, 80.0, 100.0)  # a bin low in the picture, often under a bag
    far = (2, 0.0, 0.0, 20.0, 20.0)  # a person high up: bags land lower, never cover it
    dropped = kept = 0
    for seed in range(60):
        out, boxes = paste(bg, [small, far], [red_bag(80)], random.Random(seed))
        assert far in boxes
        covered = red_pixels(out)[80:100, 60:80].mean()
        if small in boxes:
            kept += 1
            assert covered < paste_bags.COVERED
        else:
            dropped += 1
            assert covered >= paste_bags.COVERED - 0.05  # feathered edges: red by a little less than the mask
    assert dropped and kept


def test_no_bag_is_pasted_on_letterbox():
    bg = np.full((200, 200, 3), 255, np.uint8)  # white letterbox ...
    bg[120:200, 0:100] = 128  # ... around a bit of scene at the bottom left
    for seed in range(20):
        out, boxes = paste(bg, [], [red_bag(30)], random.Random(seed))
        for _, x1, y1, x2, y2 in boxes:
            assert x2 <= 110 and y1 >= 110


def _dataset(tmp_path: Path) -> Path:
    src = tmp_path / "src"
    (src / "images").mkdir(parents=True)
    (src / "labels").mkdir()
    img = np.full((160, 160, 3), 90, np.uint8)
    poly = np.array([[0.3, 0.3], [0.6, 0.3], [0.6, 0.6], [0.3, 0.6]], np.float32)
    cv2.fillPoly(img, [np.round(poly * 160).astype(np.int32)], RED)
    cv2.imwrite(str(src / "images" / "photo.jpg"), img)
    (src / "labels" / "photo.txt").write_text("0 " + " ".join(f"{v:.3f}" for v in poly.ravel()) + "\n")
    data = tmp_path / "data"
    for folder in ("real_train", "sim_train", "neg_train_reviewed", "neg_hard"):
        (data / folder / "images").mkdir(parents=True)
        (data / folder / "labels").mkdir()
    (data / "real_train" / "images" / "photo.jpg").symlink_to(src / "images" / "photo.jpg")
    cv2.imwrite(str(data / "sim_train" / "images" / "room.jpg"), np.full((120, 160, 3), 200, np.uint8))
    (data / "sim_train" / "labels" / "room.txt").write_text("1 0.1 0.1 0.1 0.1\n")
    cv2.imwrite(str(data / "neg_train_reviewed" / "images" / "neg.jpg"), np.full((100, 100, 3), 60, np.uint8))
    for k in range(3):
        cv2.imwrite(str(data / "neg_hard" / "images" / f"hard_x_masked_{k}.jpg"), np.full((100, 100, 3), 30, np.uint8))
    (data / "data_hard.yaml").write_text("path: x\ntrain:\n  - sim_train/images\nval:\n  - sim_val/images\nnames:\n  0: garbage_bag\n")
    return data


def test_main_writes_composites_and_a_data_yaml(tmp_path, capsys):
    data = _dataset(tmp_path)
    assert paste_bags.main(["--data", str(data), "--neg-copies", "2"]) == 0
    images = sorted((data / "paste_train" / "images").iterdir())
    # one room, the reviewed negative twice, the three copies of one mined view as one view, twice
    assert len(images) == 5
    for img in images:
        rows = (data / "paste_train" / "labels" / f"{img.stem}.txt").read_text().split("\n")
        assert any(r.startswith("0 ") for r in rows)
    room = [p for p in images if "room" in p.name][0]
    assert "1 0.100000 0.100000" in (data / "paste_train" / "labels" / f"{room.stem}.txt").read_text()
    yaml = (data / "data_paste.yaml").read_text()
    assert yaml.index("paste_train/images") < yaml.index("val:")
    assert "1 phone and 0 truck bags" in capsys.readouterr().out


def test_main_without_the_mined_dataset_is_one_clear_line(tmp_path, capsys):
    assert paste_bags.main(["--data", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "data_hard.yaml" in err


def test_a_sites_own_frames_as_backgrounds(tmp_path):
    data = _dataset(tmp_path)
    site = tmp_path / "site" / "images"
    site.mkdir(parents=True)
    for k in range(2):
        cv2.imwrite(str(site / f"empty-{k}.jpg"), np.full((90, 120, 3), 150, np.uint8))
    assert paste_bags.main(["--data", str(data), "--sim", "0", "--neg-copies", "1", "--backgrounds", str(site)]) == 0
    names = sorted(p.name for p in (data / "paste_train" / "images").iterdir())
    assert [n for n in names if "empty" in n] == ["paste0002_empty-0.jpg", "paste0003_empty-1.jpg"]
    assert not [n for n in names if "room" in n]  # --sim 0
    picture = cv2.imread(str(data / "paste_train" / "images" / "paste0002_empty-0.jpg"))
    assert picture.shape == (90, 120, 3) and red_pixels(picture).any()
    assert paste_bags.main(["--data", str(data), "--backgrounds", str(tmp_path / "nope")]) == 2
