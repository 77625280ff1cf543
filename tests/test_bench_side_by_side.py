"""`gedge bench` times the settings of one input size taking turns (edge/cli/bench_cmd.py), so that a
busy spell of the machine falls on all of them: checked with detectors on a simulated clock."""
from __future__ import annotations

from edge.cli.bench_cmd import speedup, time_side_by_side


class Clock:
    def __init__(self):
        self.now_ms = 0.0
        self.load = 1.0  # a busy machine makes everything slower by this factor

    def __call__(self) -> float:
        return self.now_ms / 1000


class FakeDetector:
    def __init__(self, name: str, cost_ms: float, clock: Clock, calls: list):
        self.name, self.cost_ms, self.clock, self.calls = name, cost_ms, clock, calls

    def detect(self, frame):
        self.calls.append(self.name)
        self.clock.now_ms += self.cost_ms * self.clock.load
        # the machine gets busy after the first round (warm-up 2 + 3 runs each = 10 calls)
        if len(self.calls) == 10:
            self.clock.load = 3.0
        return []


def test_settings_take_turns_round_by_round():
    clock, calls = Clock(), []
    dets = [FakeDetector("float", 30.0, clock, calls), FakeDetector("int8", 20.0, clock, calls)]
    fl, q = time_side_by_side(dets, None, runs=9, rounds=3, warmup=2, clock=clock)
    # warm-up of each, then three rounds of three runs in a row each
    assert calls == ["float"] * 2 + ["int8"] * 2 + (["float"] * 3 + ["int8"] * 3) * 3
    assert fl["round_ms"] == [30.0, 90.0, 90.0] and q["round_ms"] == [20.0, 60.0, 60.0]
    assert fl["ms_median"] == 90.0 and q["ms_median"] == 60.0
    # the busy spell fell on both: the ratio is the one of their costs in every round
    assert speedup(fl, q) == 1.5


def test_more_rounds_than_runs_is_one_run_per_round():
    clock, calls = Clock(), []
    (only,) = time_side_by_side([FakeDetector("a", 10.0, clock, calls)], None, runs=2, rounds=5, warmup=0, clock=clock)
    assert calls == ["a", "a"] and len(only["round_ms"]) == 2


def test_int8_latency_times_each_candidate_against_the_float_file():
    """bench/int8_latency.py --also: every candidate gets its own row against the one float file."""
    import json
    import subprocess
    import sys
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    out = subprocess.run([sys.executable, str(repo / "bench" / "int8_latency.py"), "--rounds", "1", "--runs", "1",
                          "--threads", "1", "--imgsz", "256", "--also", str(repo / "models" / "garbage-yolo.onnx"), "--json"],
                         capture_output=True, text=True, check=True, timeout=300).stdout
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["int8"] for r in rows] == ["garbage-yolo-int8.onnx", "garbage-yolo.onnx"]
    assert all(r["float_ms"] == rows[0]["float_ms"] > 0 and r["int8_ms"] > 0 and r["imgsz"] == 256 for r in rows)
