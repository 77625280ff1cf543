"""The renderer: deterministic frames, truth boxes that match the pixels, the default layout, the CLI."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from hw.sim import CLASSES, SimRoom, random_scene
from hw.sim.scenario import point_in_polygon

ROOT = Path(__file__).resolve().parent.parent


def _boxes(truth, cls):
    return [b for b in truth if b.cls == cls]


def test_render_is_deterministic_for_seed_and_time():
    a, ta = SimRoom("bag_removed_by_cleaner", seed=3).render(100.0)
    b, tb = SimRoom("bag_removed_by_cleaner", seed=3).render(100.0)
    c, _ = SimRoom("bag_removed_by_cleaner", seed=4).render(100.0)
    assert a.dtype == np.uint8 and a.shape == (480, 640, 3)
    assert np.array_equal(a, b) and ta == tb
    assert not np.array_equal(a, c)


def test_other_frame_sizes_scale_the_layout():
    room = SimRoom("bag_dropped_outside", size=(320, 240))
    frame, truth = room.render(30.0)
    assert frame.shape == (240, 320, 3)
    assert room.bin_polygons()["bin-1"][0] == pytest.approx((30.0, 85.0))
    bag = _boxes(truth, "garbage_bag")
    assert len(bag) == 1 and bag[0].xyxy[2] <= 320


def test_default_layout_matches_the_default_config_zones():
    from edge.config import load_file

    cfg = load_file(ROOT / "config" / "default.yaml")
    polys = SimRoom("bag_into_bin").bin_polygons()
    assert {b.id for b in cfg.zones.bins} == set(polys)
    for b in cfg.zones.bins:
        assert [tuple(map(float, p)) for p in b.polygon] == polys[b.id]
    assert [tuple(map(float, p)) for p in cfg.zones.floor] == SimRoom("bag_into_bin").floor_polygon()


def test_truth_follows_the_story():
    room = SimRoom("bag_dropped_outside", seed=1)
    _, empty = room.render(0.5)
    assert len(_boxes(empty, "bin")) == 3 and not _boxes(empty, "person") and not _boxes(empty, "garbage_bag")
    _, carrying = room.render(4.0)
    assert len(_boxes(carrying, "person")) == 1 and len(_boxes(carrying, "garbage_bag")) == 1
    _, later = room.render(30.0)
    assert not _boxes(later, "person")
    (bag,) = _boxes(later, "garbage_bag")
    foot = ((bag.xyxy[0] + bag.xyxy[2]) / 2, bag.xyxy[3])
    assert point_in_polygon(foot, room.floor_polygon())
    assert not any(point_in_polygon(foot, p) for p in room.bin_polygons().values())
    # into the bin: the bag is gone afterwards
    _, after = SimRoom("bag_into_bin").render(20.0)
    assert not _boxes(after, "garbage_bag")


def test_truth_boxes_cover_the_drawn_pixels():
    with_bag, truth = SimRoom("bag_dropped_outside", seed=2).render(30.0)
    without, _ = SimRoom("lighting_change_empty", seed=2).render(5.0)
    (bag,) = _boxes(truth, "garbage_bag")
    x1, y1, x2, y2 = (int(v) for v in bag.xyxy)
    diff = np.abs(with_bag.astype(int) - without.astype(int)).sum(2)
    inside = diff[y1:y2, x1:x2].mean()
    mask = np.ones_like(diff, bool)
    mask[max(0, y1 - 12):y2 + 12, max(0, x1 - 12):x2 + 12] = False  # the bag's shadow lies around it
    assert inside > 60
    assert diff[mask].mean() < 25


def test_dim_light_darkens_the_frame():
    bright, _ = SimRoom("lighting_change_empty").render(5.0)
    dim, _ = SimRoom("lighting_change_empty").render(20.0)
    assert dim.mean() < 0.5 * bright.mean()


def test_random_scenes_for_training():
    f1, t1 = random_scene(11)
    f2, t2 = random_scene(11)
    assert np.array_equal(f1, f2) and t1 == t2
    seen = set()
    for s in range(12):
        frame, truth = random_scene(s, (320, 240), default_layout=s % 2 == 0)
        assert frame.shape == (240, 320, 3)
        for b in truth:
            assert b.cls in CLASSES
            x1, y1, x2, y2 = b.xyxy
            assert 0 <= x1 < x2 <= 320 and 0 <= y1 < y2 <= 240
            seen.add(b.cls)
    assert seen == set(CLASSES)


def _gedge(*args, cwd=ROOT):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=cwd, timeout=120)


def test_cli_render_writes_video_and_truth(tmp_path):
    out = tmp_path / "clip.mp4"
    run = _gedge("sim", "render", "bag_removed_by_cleaner", str(out), "--fps", "1", "--size", "320x240", "--seed", "5")
    assert run.returncode == 0, run.stderr
    truth = json.loads((tmp_path / "clip.truth.json").read_text())
    assert truth["expected_incidents"][0]["open_s"] == 66.0 and truth["expected_incidents"][0]["resolve_s"] == 112.0
    assert truth["expected_incidents"][0]["place"] == [272.5, 202.5]  # clip pixels, like the boxes and zones
    assert len(truth["frames"]) == 150 and truth["size"] == [320, 240]
    cap = cv2.VideoCapture(str(out))
    n = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
    ok, frame = cap.read()
    cap.release()
    assert ok and frame.shape == (240, 320, 3) and n == 150


def test_cli_render_from_a_file_and_errors(tmp_path):
    sc = tmp_path / "mine.yaml"
    sc.write_text("duration_s: 3\ntimeline:\n  - {t: 0, action: place, kind: box, at: [560, 420]}\n")
    run = _gedge("sim", "render", str(sc), str(tmp_path / "m.mp4"), "--fps", "2")
    assert run.returncode == 0, run.stderr
    assert json.loads((tmp_path / "m.truth.json").read_text())["frames"][0]["boxes"]
    bad = _gedge("sim", "render", "no_such_scenario", str(tmp_path / "x.mp4"))
    assert bad.returncode == 2 and "no bundled scenario" in bad.stderr and "Traceback" not in bad.stderr
    size = _gedge("sim", "render", "bag_into_bin", str(tmp_path / "x.mp4"), "--size", "big")
    assert size.returncode == 2


def test_cli_lists_scenarios():
    run = _gedge("sim", "scenarios", "--json")
    assert run.returncode == 0
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert len(rows) >= 8 and {"name", "duration_s", "expected_incidents"} <= set(rows[0])


def test_four_bins_in_shanghai_colours_with_lids():
    from hw.sim.scenario import build_scenario

    kinds = ("wet", "dry", "recyclable", "hazardous")
    sc = build_scenario({"duration_s": 5, "bins": [
        {"id": k, "kind": k, "box": [40 + 140 * i, 170, 160 + 140 * i, 330]} for i, k in enumerate(kinds)]})
    frame, truth = SimRoom(sc, seed=1).render(1.0)
    bins = sorted(_boxes(truth, "bin"), key=lambda b: b.xyxy[0])
    assert len(bins) == 4
    colours = {}
    for kind, b in zip(kinds, bins):
        x1, y1, x2, y2 = (int(v) for v in b.xyxy)
        h, w = y2 - y1, x2 - x1
        # the body below the label; BGR
        colours[kind] = frame[y1 + int(h * 0.6):y1 + int(h * 0.8), x1 + w // 5:x2 - w // 5].reshape(-1, 3).mean(0)
    b, g, r = colours["hazardous"]
    assert r > 2.5 * max(b, g)  # 有害垃圾 red
    b, g, r = colours["recyclable"]
    assert b > 2.5 * r and b > g  # 可回收物 blue
    b, g, r = colours["wet"]
    assert r > g > b  # 湿垃圾 brown
    assert colours["dry"].max() < 70  # 干垃圾 black
    # the lid: a band on top, its edge a dark seam across the bin
    x1, y1, x2, y2 = (int(v) for v in bins[3].xyxy)
    rows = frame[y1:y1 + (y2 - y1) // 5, x1 + 10:x2 - 10].astype(float).mean((1, 2))
    assert rows.min() < 0.6 * colours["hazardous"].mean() and rows[:5].mean() > 0.8 * colours["hazardous"].mean()


def test_cli_render_bad_values_are_one_line_errors(tmp_path):
    sc = tmp_path / "typo.yaml"
    sc.write_text("duration_s: 5\nrules: {incident_after_s: soon}\n")
    run = _gedge("sim", "render", str(sc), str(tmp_path / "t.mp4"))
    assert run.returncode == 2 and "rules: unexpected value" in run.stderr and "Traceback" not in run.stderr
    neg = _gedge("sim", "render", "bag_into_bin", str(tmp_path / "n.mp4"), "--duration", "-1")
    assert neg.returncode == 2 and "--duration" in neg.stderr
    (tmp_path / "afile").write_text("x")
    blocked = _gedge("sim", "render", "bag_into_bin", str(tmp_path / "afile" / "x.mp4"), "--duration", "1")
    assert blocked.returncode == 1 and "Traceback" not in blocked.stderr and "cannot create" in blocked.stderr
