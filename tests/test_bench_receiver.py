"""bench/bench_receiver.py's `STORE@REV`: a commit's receiver is run from its own edge/ package."""
from __future__ import annotations

import importlib.util
import subprocess
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


def bench():
    spec = importlib.util.spec_from_file_location("bench_receiver", REPO / "bench" / "bench_receiver.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_a_commits_receiver_is_its_edge_package_as_committed(tmp_path):
    if subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True).returncode:
        pytest.skip("not a git checkout")
    rev = subprocess.run(["git", "rev-list", "-1", "HEAD", "--", "edge/platform/storage.py"], cwd=REPO,
                         capture_output=True, text=True, check=True).stdout.strip()
    committed = subprocess.run(["git", "show", f"{rev}:edge/platform/storage.py"], cwd=REPO,
                               capture_output=True, check=True).stdout
    folder = bench().receiver_at(rev, tmp_path)
    assert (folder / "edge" / "platform" / "storage.py").read_bytes() == committed
    assert (folder / "edge" / "__main__.py").exists() and not (folder / "tests").exists()


def test_an_unknown_commit_is_one_clear_line(tmp_path):
    with pytest.raises(SystemExit, match="no-such-commit: not a commit here"):
        bench().receiver_at("no-such-commit", tmp_path)
