"""The model scripts end to end at toy size: build_dataset.py (real photos split by source),
train.py from the model YAML, a fine-tune from those weights, export.py to ONNX that the onnx
backend loads. Real ultralytics, a few pictures, imgsz 64: minutes become seconds."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
REAL = ROOT.parent / "shared" / "data" / "real-bags"

pytest.importorskip("ultralytics")
pytestmark = pytest.mark.slow


def script(name: str, *args: str, timeout: float = 600) -> subprocess.CompletedProcess:
    env = dict(os.environ, YOLO_OFFLINE="1")
    run = subprocess.run([sys.executable, str(ROOT / "models" / name), *args], capture_output=True, text=True,
                         timeout=timeout, cwd=str(ROOT), env=env)
    assert run.returncode == 0, f"{name}: {run.stdout[-2000:]}\n{run.stderr[-3000:]}"
    return run


def source(name: str) -> str:
    return name[len("real_"):].split(".rf.")[0]


@pytest.mark.skipif(not REAL.is_dir(), reason="the real photos are not beside the repository")
def test_real_photos_are_split_by_source_photo(tmp_path):
    out = tmp_path / "ds"
    script("build_dataset.py", "--out", str(out), "--real", str(REAL), "--sim-train", "1", "--sim-val", "1",
           "--sim-test", "1", "--workers", "1")
    train = {source(p.name) for p in (out / "real_train" / "images").iterdir()}
    held = {source(p.name) for p in (out / "real_test" / "images").iterdir()}
    assert train and held and not train & held
    manifest = json.loads((out / "manifest.json").read_text())
    assert manifest["real"]["train_sources"] == len(train) and manifest["real"]["heldout_sources"] == len(held)
    # every label of a real picture is a garbage_bag box (polygons turned into min/max boxes)
    rows = [r.split() for p in (out / "real_train" / "labels").glob("*.txt") for r in p.read_text().splitlines()]
    assert rows and all(r[0] == "0" and len(r) == 5 for r in rows)


def test_train_fine_tune_and_export_at_toy_size(tmp_path):
    out = tmp_path / "ds"
    script("build_dataset.py", "--out", str(out), "--sim-train", "4", "--sim-val", "2", "--sim-test", "1", "--workers", "1")
    runs = tmp_path / "runs"
    toy = ["--data", str(out / "data.yaml"), "--imgsz", "64", "--epochs", "1", "--batch", "4", "--workers", "0",
           "--project", str(runs)]
    script("train.py", *toy, "--name", "scratch")
    first = runs / "scratch" / "weights" / "last.pt"
    assert first.is_file()
    # --weights must really start from them (ultralytics drops weights given pretrained=False)
    tuned = script("train.py", *toy, "--name", "tuned", "--weights", str(first))
    assert "Transferred" in tuned.stdout + tuned.stderr
    onnx = tmp_path / "toy.onnx"
    script("export.py", str(runs / "tuned" / "weights" / "last.pt"), "--out", str(onnx), "--imgsz", "64")
    sys.path.insert(0, str(ROOT))
    from edge.vision.detector import load_detector

    det = load_detector("onnx", onnx, imgsz=64, conf=0.5, iou=0.5, threads=1)
    assert det.names == ("garbage_bag", "bin", "person")


def test_int8_twin_from_a_toy_model(tmp_path):
    """export -> quantize.py: an INT8 file our backend loads, with the float file's class names, whose
    boxes agree with the float model's on the pictures it was calibrated for."""
    out = tmp_path / "ds"
    script("build_dataset.py", "--out", str(out), "--sim-train", "6", "--sim-val", "2", "--sim-test", "1", "--workers", "1")
    runs = tmp_path / "runs"
    script("train.py", "--data", str(out / "data.yaml"), "--imgsz", "64", "--epochs", "1", "--batch", "4", "--workers", "0",
           "--project", str(runs), "--name", "toy")
    onnx = tmp_path / "toy.onnx"
    script("export.py", str(runs / "toy" / "weights" / "last.pt"), "--out", str(onnx), "--imgsz", "64")
    run = script("quantize.py", str(onnx), "--calib", str(out), "--imgsz", "64", "--count", "6")
    int8 = tmp_path / "toy-int8.onnx"
    assert int8.is_file() and "INT8" in run.stdout
    import onnx as onnx_lib

    graph = onnx_lib.load(str(int8)).graph
    ops = {n.op_type for n in graph.node}
    assert "QuantizeLinear" in ops and "DequantizeLinear" in ops
    # tensors stay int8 between convs (--ops all): the SiLUs' Sigmoid and Mul outputs are quantized
    producers = {out: n.op_type for n in graph.node for out in n.output}
    assert {"Sigmoid", "Mul"} <= {producers.get(n.input[0]) for n in graph.node if n.op_type == "QuantizeLinear"}
    # the head's decoding stays float: no quantize node feeds the DFL
    assert not any(n.op_type == "QuantizeLinear" and "/dfl/" in n.name for n in graph.node)
    # default weights are int8 in a 7-bit range: AVX2's u8 x s8 kernel cannot saturate on them
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(t) for t in graph.initializer if t.data_type == onnx_lib.TensorProto.INT8 and t.dims]
    assert weights and max(int(abs(w.astype(int)).max()) for w in weights) <= 64
    assert "int8-7bit" in {p.key: p.value for p in onnx_lib.load(str(int8)).metadata_props}["quantization"]
    sys.path.insert(0, str(ROOT))
    import cv2
    from edge.vision.detector import load_detector, onnx_precisions

    assert onnx_precisions(onnx) == (onnx, int8) == onnx_precisions(int8)
    f32 = load_detector("onnx", onnx, imgsz=64, conf=0.001, iou=0.5, threads=1)
    q8 = load_detector("onnx", int8, imgsz=64, conf=0.001, iou=0.5, threads=1)
    assert q8.names == f32.names == ("garbage_bag", "bin", "person")
    img = cv2.imread(str(next((out / "sim_train" / "images").iterdir())))
    a, b = f32.session.run(None, {f32.input_name: f32.preprocess(img)[0]})[0], q8.session.run(None, {q8.input_name: q8.preprocess(img)[0]})[0]
    assert a.shape == b.shape
    # box coordinates are in input pixels (0..64): 8-bit activations keep them within a few pixels
    assert float(abs(a[0, :4] - b[0, :4]).mean()) < 4.0

    # the choice between files and sizes is made on the validation sets: evaluate.py --split val
    import json

    report = tmp_path / "val.json"
    script("evaluate.py", "--split", "val", "--data", str(out), "--model", str(onnx), "--model", str(int8),
           "--imgsz", "64", "--imgsz", "96", "--json", str(report))
    rows = json.loads(report.read_text())
    assert [(Path(r["model"]).name, r["imgsz"], r["split"]) for r in rows] == [("toy.onnx", 64, "val"), ("toy-int8.onnx", 96, "val")]
    assert all("sim_val" in r and 0.0 <= r["sim_val"]["ap50"] <= 1.0 and "sim_heldout" not in r for r in rows)

    # quant_error.py: per-layer float against INT8 error; full-range weights are closer to float
    # than 7-bit ones from the first conv on (the activations' ranges are the same)
    full = tmp_path / "toy-int8-full.onnx"
    script("quantize.py", str(onnx), "--calib", str(out), "--imgsz", "64", "--count", "6", "--weights", "int8",
           "--out", str(full))

    def first_layers(model: Path) -> dict[int, float]:
        run = script("quant_error.py", str(onnx), str(model), "--pictures", str(out / "sim_val" / "images"),
                     "--count", "2", "--imgsz", "64")
        rows = [line.split() for line in run.stdout.splitlines()[1:]]
        return {int(r[1]): float(r[2]) for r in rows}

    seven, eight = first_layers(int8), first_layers(full)
    assert sorted(seven) == list(range(len(seven))) and len(seven) > 20
    assert eight[0] > seven[0]

    # --percentile: a lower one clips more of each activation's tail, so no range is wider
    tight = tmp_path / "toy-int8-p99.onnx"
    script("quantize.py", str(onnx), "--calib", str(out), "--imgsz", "64", "--count", "6", "--percentile", "99",
           "--out", str(tight))

    def activation_scales(model: Path) -> dict[str, float]:
        g = onnx_lib.load(str(model)).graph
        inits = {t.name: numpy_helper.to_array(t) for t in g.initializer}
        return {n.input[0]: float(inits[n.input[1]]) for n in g.node if n.op_type == "QuantizeLinear" and n.input[1] in inits
                and inits[n.input[1]].ndim == 0}

    wide, narrow = activation_scales(int8), activation_scales(tight)
    assert wide.keys() == narrow.keys() and len(wide) > 20
    assert all(narrow[k] <= wide[k] * 1.0001 for k in wide) and sum(narrow.values()) < sum(wide.values())


def test_the_frozen_backbone_learns_again_after_its_epochs():
    import torch

    sys.path.insert(0, str(ROOT))
    from models.train import torch_threads, unfreeze_after

    class Net(torch.nn.Module):
        def __init__(self):
            super().__init__()
            self.model = torch.nn.Sequential(*[torch.nn.Conv2d(1, 1, 1) for _ in range(4)])

    class Trainer:
        model = Net()
        epoch = 0

    t = Trainer()
    for name, p in t.model.named_parameters():
        p.requires_grad = not name.startswith(("model.0.", "model.1."))  # as ultralytics' freeze=2 leaves them
    callback = unfreeze_after(2, epochs=3)
    for t.epoch in (0, 1, 2):
        callback(t)
        assert not any(p.requires_grad for n, p in t.model.named_parameters() if n.startswith("model.0."))
    t.epoch = 3
    callback(t)
    assert all(p.requires_grad for p in t.model.parameters())
    assert torch_threads("3") == 3 and 1 <= torch_threads("auto") <= (os.cpu_count() or 1)


def test_a_percentile_out_of_range_is_one_clear_line(tmp_path, capsys):
    sys.path.insert(0, str(ROOT / "models"))
    import quantize

    model = tmp_path / "m.onnx"
    model.write_bytes(b"\0" * 2048)
    assert quantize.main([str(model), "--calib", str(tmp_path), "--percentile", "30"]) == 2
    assert "--percentile must be above 50" in capsys.readouterr().err
    assert not (tmp_path / "m-int8.onnx").exists()
