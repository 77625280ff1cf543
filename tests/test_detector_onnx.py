"""The onnx detector backend: no torch, letterbox/decode/NMS, clear model errors, the shipped model."""
from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import cv2
import numpy as np
import pytest

from edge.vision.detector import (Detection, ModelError, decode_yolov8, letterbox, load_detector, nms)

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "garbage-yolo.onnx"
needs_model = pytest.mark.skipif(not MODEL.is_file(), reason="the shipped model models/garbage-yolo.onnx is absent")


def _gedge(*args):
    return subprocess.run([sys.executable, "-m", "edge", *args], capture_output=True, text=True, cwd=ROOT, timeout=120)


def test_importing_the_detector_never_imports_torch():
    code = ("import sys, edge.vision.detector as d; import onnxruntime; "
            "assert 'torch' not in sys.modules and 'ultralytics' not in sys.modules, 'torch imported'")
    if MODEL.is_file():
        code += f"; d.load_detector('onnx', {str(MODEL)!r}).detect(__import__('numpy').zeros((48, 64, 3), 'uint8'))" \
                "; assert 'torch' not in sys.modules"
    run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert run.returncode == 0, run.stderr


def test_letterbox_keeps_aspect_and_centres():
    img = np.full((480, 640, 3), 200, np.uint8)
    out, r, (px, py) = letterbox(img, 320)
    assert out.shape == (320, 320, 3) and r == pytest.approx(0.5)
    assert (px, py) == (0.0, 40.0)
    assert (out[:40] == 114).all() and (out[280:] == 114).all() and (out[40:280] == 200).all()


def test_nms_keeps_the_best_of_overlapping_boxes():
    boxes = np.array([[0, 0, 10, 10], [1, 1, 11, 11], [50, 50, 60, 60]], np.float32)
    keep = nms(boxes, np.array([0.9, 0.8, 0.7], np.float32), 0.5)
    assert keep.tolist() == [0, 2]


def test_decode_maps_back_to_frame_pixels_and_keeps_classes_apart():
    n = 6
    out = np.zeros((1, 4 + 3, n), np.float32)
    # two overlapping boxes of different classes, one duplicate of class 0, one below threshold
    rows = [((160, 160, 40, 40), 0, 0.9), ((160, 160, 40, 40), 2, 0.8), ((162, 161, 40, 40), 0, 0.7), ((50, 80, 10, 10), 1, 0.1)]
    for i, ((cx, cy, w, h), c, s) in enumerate(rows):
        out[0, :4, i] = (cx, cy, w, h)
        out[0, 4 + c, i] = s
    res = decode_yolov8(out, conf=0.25, iou=0.5, scale=0.5, pad=(0.0, 40.0), frame_wh=(640, 480))
    assert [(c, round(s, 2)) for c, s, _ in res] == [(0, 0.9), (2, 0.8)]
    assert res[0][2] == pytest.approx((280.0, 200.0, 360.0, 280.0))


def test_missing_and_wrong_model_files_are_clear_errors(tmp_path):
    with pytest.raises(ModelError, match="not found"):
        load_detector("onnx", tmp_path / "nope.onnx")
    junk = tmp_path / "junk.onnx"
    junk.write_bytes(b"this is not an onnx model" * 100)
    with pytest.raises(ModelError, match="not a usable ONNX file"):
        load_detector("onnx", junk)
    with pytest.raises(ModelError, match="too small"):
        (tmp_path / "empty.onnx").write_bytes(b"")
        load_detector("onnx", tmp_path / "empty.onnx")
    with pytest.raises(ModelError, match="unknown detector backend"):
        load_detector("tensorflow", junk)
    with pytest.raises(ModelError, match="not a file"):
        load_detector("onnx", tmp_path)


def test_cli_detect_with_a_missing_model_says_so_without_traceback(tmp_path):
    img = tmp_path / "a.jpg"
    cv2.imwrite(str(img), np.zeros((48, 64, 3), np.uint8))
    run = _gedge("detect", str(img), "--model", str(tmp_path / "missing.onnx"))
    assert run.returncode == 2
    assert "model file not found" in run.stderr and "Traceback" not in run.stderr


@needs_model
def test_shipped_model_names_come_from_its_metadata():
    det = load_detector("onnx", MODEL)
    assert tuple(det.names) == ("garbage_bag", "bin", "person")


@needs_model
def test_shipped_model_finds_the_bag_bins_and_person_in_the_sim_room():
    from hw.sim import SimRoom

    det = load_detector("onnx", MODEL, imgsz=320, conf=0.4)
    hits, total = 0, 0
    for scenario, t in (("bag_dropped_outside", 30.0), ("bag_removed_by_cleaner", 40.0), ("two_bags_one_place", 100.0)):
        frame, truth = SimRoom(scenario, seed=123).render(t)
        dets = det.detect(frame)
        assert all(isinstance(d, Detection) for d in dets)
        for b in truth:
            if b.cls != "garbage_bag":
                continue
            total += 1
            hits += any(d.cls == "garbage_bag" and _iou(d.xyxy, b.xyxy) > 0.5 for d in dets)
        assert sum(d.cls == "bin" for d in dets) >= 2
    assert total == 4 and hits >= 3


@needs_model
def test_cli_detect_json_and_draw(tmp_path):
    from hw.sim import SimRoom

    frame, _ = SimRoom("bag_dropped_outside").render(30.0)
    img = tmp_path / "room.jpg"
    cv2.imwrite(str(img), frame)
    run = _gedge("detect", str(img), str(tmp_path / "missing.jpg"), "--json", "--draw", str(tmp_path / "drawn"))
    assert run.returncode == 1  # one picture could not be read
    (line,) = run.stdout.splitlines()
    doc = json.loads(line)
    assert doc["image"] == str(img) and (doc["width"], doc["height"]) == (640, 480)
    for box in doc["boxes"]:
        assert set(box) == {"class", "conf", "xyxy"} and len(box["xyxy"]) == 4
    assert "cannot read image" in run.stderr
    assert (tmp_path / "drawn" / "room.jpg").is_file()


@needs_model
def test_cli_bench_recommends_a_backend():
    run = _gedge("bench", "--json", "--runs", "2", "--imgsz", "256,320", "--backends", "onnx")
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    by_model: dict[str, list[int]] = {}
    for r in rows[:-1]:
        if "backend" in r:
            by_model.setdefault(Path(r["model"]).name, []).append(r["imgsz"])
    assert by_model and all(sizes == [256, 320] for sizes in by_model.values())
    assert rows[-1]["recommended"]["backend"] == "onnx" and rows[-1]["recommended"]["ms_median"] > 0
    # the default config's crop verifier is timed too, per detected bag, and weighed against the detector
    (verifier,) = [r for r in rows[:-1] if "verifier" in r]
    assert Path(verifier["verifier"]).name == "bag-verifier-int8.onnx" and verifier["crop_px"] == 128
    assert verifier["ms_median"] > 0 and rows[-1]["verifier_share_of_frame_with_one_bag"] > 0


@needs_model
def test_cli_bench_times_the_float_model_and_its_int8_twin(tmp_path):
    # the pairing is what is tested here, so the "twin" may be any loadable file
    shutil.copyfile(MODEL, tmp_path / "m.onnx")
    shutil.copyfile(MODEL, tmp_path / "m-int8.onnx")
    run = _gedge("bench", "--json", "--runs", "1", "--imgsz", "256", "--backends", "onnx", "--model", str(tmp_path / "m-int8.onnx"))
    assert run.returncode == 0, run.stderr
    rows = [json.loads(line) for line in run.stdout.splitlines()]
    assert sorted(Path(r["model"]).name for r in rows[:-1] if "backend" in r) == ["m-int8.onnx", "m.onnx"]
    assert Path(rows[-1]["recommended"]["model"]).name in {"m.onnx", "m-int8.onnx"}


def _iou(a, b):
    ix = max(0.0, min(a[2], b[2]) - max(a[0], b[0]))
    iy = max(0.0, min(a[3], b[3]) - max(a[1], b[1]))
    inter = ix * iy
    return inter / ((a[2] - a[0]) * (a[3] - a[1]) + (b[2] - b[0]) * (b[3] - b[1]) - inter + 1e-9)


def test_letterbox_to_stride_pads_only_the_short_side():
    out, r, (px, py) = letterbox(np.zeros((480, 640, 3), np.uint8), 320, stride=32)
    assert out.shape == (256, 320, 3) and (px, py) == (0.0, 8.0)


@pytest.mark.skipif(importlib.util.find_spec("ultralytics") is None, reason="the ultralytics extra is not installed")
def test_ultralytics_backend_with_a_broken_exported_file_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.onnx"  # ultralytics loads an exported file lazily: the error must still come at start
    junk.write_bytes(b"this is not an onnx model" * 100)
    with pytest.raises(ModelError, match="ultralytics cannot load model"):
        load_detector("ultralytics", junk)


def test_cli_bench_with_a_missing_model_says_so_without_traceback(tmp_path):
    run = _gedge("bench", "--model", str(tmp_path / "missing.onnx"), "--imgsz", "320", "--runs", "1",
                 "--backends", "onnx")
    assert run.returncode == 2 and "model file not found" in run.stderr and "Traceback" not in run.stderr


@needs_model
def test_cli_detect_bad_pictures_and_draw_folder(tmp_path):
    from hw.sim import SimRoom

    frame, _ = SimRoom("bag_dropped_outside").render(30.0)
    for sub in ("a", "b"):  # same file name in two folders: both drawings are kept
        (tmp_path / sub).mkdir()
        cv2.imwrite(str(tmp_path / sub / "room.jpg"), frame)
    (tmp_path / "notes.jpg").write_text("not a picture")
    run = _gedge("detect", str(tmp_path / "a" / "room.jpg"), str(tmp_path / "b" / "room.jpg"),
                 str(tmp_path / "notes.jpg"), str(tmp_path / "gone.jpg"), "--draw", str(tmp_path / "drawn"))
    assert run.returncode == 1 and "Traceback" not in run.stderr
    assert "notes.jpg (not an image" in run.stderr and "gone.jpg (no such file)" in run.stderr
    assert len(run.stderr.strip().splitlines()) == 2  # no OpenCV warning lines
    assert sorted(p.name for p in (tmp_path / "drawn").iterdir()) == ["room-2.jpg", "room.jpg"]
    blocked = _gedge("detect", str(tmp_path / "a" / "room.jpg"), "--draw", str(tmp_path / "notes.jpg"))
    assert blocked.returncode == 2 and "--draw" in blocked.stderr and "Traceback" not in blocked.stderr
