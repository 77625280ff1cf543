"""`gedge demo --out DIR`, the README's first command: the whole scenario happens and DIR holds
the evidence JPEGs, the WAVs that were played and the receiver's database."""
from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.receiver import ReceiverStore

ROOT = Path(__file__).resolve().parent.parent

pytestmark = [
    pytest.mark.slow,
    pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed"),
    pytest.mark.skipif(not (ROOT / "models" / "garbage-yolo.onnx").exists(),
                       reason="the shipped model models/garbage-yolo.onnx is missing"),
]


# the demo runs on onnxruntime: it must work where torch and ultralytics are not installed
WITHOUT_TORCH = """
import importlib.abc, sys
class NoTorch(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in ("torch", "torchvision", "ultralytics"):
            raise ImportError(name + " is not installed (the demo must not need it)")
sys.meta_path.insert(0, NoTorch())
from edge.cli import main
sys.exit(main(["demo", "--out", sys.argv[1]]))
"""


def test_demo_runs_the_scenario_and_leaves_its_evidence(tmp_path):
    out = tmp_path / "demo-out"
    (out / "voice").mkdir(parents=True)
    (out / "voice" / "bag_on_floor.wav").write_bytes(b"left from an earlier run")  # a rerun counts its own
    run = subprocess.run([sys.executable, "-c", WITHOUT_TORCH, str(out)],
                         capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-3000:]
    assert "demo complete" in run.stdout
    assert "What reached the platform" in run.stdout, "the summary table"
    for seen in ("speaker  bag_on_floor", "incident bag_outside_bin", "relay    fan-1 ON", "platform accepted"):
        assert seen in run.stdout, f"printed as it happens: {seen!r}"

    jpegs = list((out / "evidence").glob("*.jpg"))
    assert jpegs and all(p.read_bytes()[:2] == b"\xff\xd8" for p in jpegs)
    wavs = list((out / "voice").glob("*.wav"))
    assert wavs and all(p.read_bytes()[:4] == b"RIFF" for p in wavs)
    assert f"voice/ ({len(wavs)} WAV)" in run.stdout, "the summary counts this run's WAVs"
    # the bag's loop closes with evidence: its opening picture and the picture of the cleared place
    assert len([p for p in jpegs if p.name.startswith("bag_outside_bin-") and p.name.endswith("-resolved.jpg")]) == 1
    store = ReceiverStore(out / "receiver.db")
    try:
        types = {i["doc"]["type"] for i in store.incidents()}
    finally:
        store.close()
    assert {"bag_outside_bin", "bin_full", "bin_emptied", "odor_high"} <= types


def test_an_agent_that_cannot_start_is_one_clear_line(tmp_path, monkeypatch):
    from edge.config.edit import edited_text
    from edge.runtime import demo

    from edge.runtime.service import Service

    monkeypatch.setattr(Service, "install_signal_handlers", lambda self: None)  # keep pytest's own
    plain = demo.demo_config_text
    monkeypatch.setattr(demo, "demo_config_text",
                        lambda *a: edited_text(plain(*a), "vision.model", str(tmp_path / "no-such-model.onnx")))
    lines: list[str] = []
    code = demo.run_demo(tmp_path / "out", write=lines.append, duration_s=5)
    assert code == 2, lines
    assert lines[-1].startswith("demo cannot start the agent:") and "no-such-model.onnx" in lines[-1]
