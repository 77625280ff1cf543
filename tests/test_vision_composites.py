"""The static-object finder on a few small clips built from real pictures (hw/sim/composite.py):
a real bag left on a real floor is reported by the finder alone; light changes are not objects."""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
DATA = ROOT.parent / "shared" / "data"
pytestmark = pytest.mark.skipif(not (DATA / "real-bags" / "valid").is_dir(),
                                reason=f"the real pictures are not here ({DATA}/real-bags)")


@pytest.fixture(scope="module")
def pictures():
    from hw.sim.composite import held_out_pictures

    return held_out_pictures(DATA)


@pytest.fixture(scope="module")
def evaluate():
    sys.path.insert(0, str(ROOT / "models"))
    import evaluate_composites

    return evaluate_composites


def test_only_held_out_pictures_are_used(pictures):
    names = [p.name for p in pictures["photos"] + pictures["truck"]]
    assert names and all(("/valid/" in str(p) or "/test/" in str(p)) for p in pictures["photos"])
    assert all("2023-12-08-20" in n or "2023-12-10" in n for n in (p.name for p in pictures["truck"]))
    assert set(pictures["backgrounds"]) <= set(pictures["photos"] + pictures["truck"])


def test_clips_are_deterministic_by_seed(pictures):
    from hw.sim.composite import build_clip

    a, b = build_clip("left_one", 3, pictures), build_clip("left_one", 3, pictures)
    assert a.bags == b.bags and a.background == b.background and a.bags
    fa = [f for i, (f, _, _) in zip(range(40), a.frames()) if i in (0, 39)]
    fb = [f for i, (f, _, _) in zip(range(40), b.frames()) if i in (0, 39)]
    assert all(np.array_equal(x, y) for x, y in zip(fa, fb))
    assert not np.array_equal(fa[0], fa[1])  # noise, jitter, the person walking in


def test_a_real_bag_left_is_reported_by_the_finder_alone(pictures, evaluate):
    r = evaluate.run_clip("left_one", 2, pictures, incident_after_s=15.0)
    assert r["objects"] == 1 and r["reported"] == 1 and r["false"] == 0
    assert r["seen_by"] == ["static"] and -3.0 <= r["delay_s"][0] <= 5.0


def test_a_light_change_on_a_real_picture_is_nothing(pictures, evaluate):
    r = evaluate.run_clip("lights", 1, pictures, incident_after_s=15.0)
    assert r["objects"] == 0 and r["false"] == 0
