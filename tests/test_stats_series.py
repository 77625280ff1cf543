"""The per-minute sensor history: means per minute, kept across a restart, read by another
process's read-only handle, old minutes pruned."""
from __future__ import annotations

import math
import subprocess
import sys

from edge.stats.series import SeriesStore

T0 = 1_764_547_200.0  # a minute boundary


def test_minutes_hold_the_mean_and_the_minute_in_progress_is_readable(tmp_path):
    s = SeriesStore(tmp_path / "series.sqlite")
    values = [10.0, 20.0, 30.0, 41.0]
    for i, v in enumerate(values):
        s.add("bin-1-level", T0 + i * 10, v, "fill_pct")  # one minute
    s.add("bin-1-level", T0 + 65, 50.0, "fill_pct")  # the next one, still in progress
    s.add("odor-1", T0 + 5, math.nan, "nh3_ppm")  # never kept
    points = s.read("bin-1-level", T0, T0 + 3600)
    assert points == [(T0, sum(values) / len(values)), (T0 + 60, 50.0)]
    assert s.read_full("bin-1-level", T0, T0)[0][2:] == (10.0, 41.0, 4)
    assert s.read("odor-1", T0, T0 + 3600) == []
    assert s.flush(T0 + 70) == 1  # only the finished minute is written
    assert s.flush(T0 + 80, final=True) == 1
    s.close()
    again = SeriesStore(tmp_path / "series.sqlite")
    assert again.read("bin-1-level", T0, T0 + 3600) == points
    assert again.quantities() == {"bin-1-level": "fill_pct"}
    assert again.sensors() == ["bin-1-level"]
    again.close()


def test_a_minute_split_by_a_restart_merges(tmp_path):
    path = tmp_path / "series.sqlite"
    with SeriesStore(path) as s:
        s.add("b", T0 + 1, 10.0)
        s.flush(T0 + 2, final=True)
    with SeriesStore(path) as s:
        s.add("b", T0 + 30, 20.0)
        s.add("b", T0 + 40, 30.0)
        s.flush(T0 + 61)
        assert s.read_full("b", T0, T0) == [(T0, 20.0, 10.0, 30.0, 3)]


def test_old_minutes_are_pruned(tmp_path):
    with SeriesStore(tmp_path / "series.sqlite", keep_s=3600) as s:
        for m in range(0, 180):
            s.add("b", T0 + m * 60, float(m))
        s.flush(T0 + 180 * 60)
        points = s.read("b", 0, T0 + 10 ** 6)
    assert points[0][0] >= T0 + 180 * 60 - 3600 and points[-1][0] == T0 + 179 * 60


def test_another_process_reads_it(tmp_path):
    path = tmp_path / "series.sqlite"
    s = SeriesStore(path)
    for m in range(5):
        s.add("odor-1", T0 + m * 60, 2.0 + m, "nh3_ppm")
    s.flush(T0 + 5 * 60)
    code = ("import sys; from edge.stats.series import SeriesStore\n"
            "with SeriesStore.open_readonly(sys.argv[1]) as r:\n"
            "    print(len(r.read('odor-1', 0, 1e12)), r.read('odor-1', 0, 1e12)[-1][1])")
    out = subprocess.run([sys.executable, "-c", code, str(path)], capture_output=True, text=True, check=True)
    assert out.stdout.split() == ["5", "6.0"]
    s.close()
