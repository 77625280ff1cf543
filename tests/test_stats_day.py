"""A whole simulated day (`day_of_collection`) through the real sensor pipelines, router and
statistics, with sensor noise, lid spikes, a 10-minute gap and an agent restart: litres per
bin within 5 % of the scenario's true rises, collection_overdue on time and never below the
level, the document the platform accepts, and `gedge stats` showing and plotting it."""
from __future__ import annotations

import datetime as dt
import json
import subprocess
import sys
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from edge.config import Config
from edge.config.loader import load_file
from edge.platform.documents import Daily
from edge.stats.replay import replay_day
from hw.sim import load_scenario

ROOT = Path(__file__).resolve().parent.parent
TZ = "Asia/Shanghai"
DAY = "2026-11-28"
MIDNIGHT = dt.datetime(2026, 11, 28, tzinfo=ZoneInfo(TZ)).timestamp()
SCHEDULE = {"bin-1": ["09:30", "20:30"], "bin-3": ["08:00"]}


def day_config(state_dir: Path) -> Config:
    base = load_file(ROOT / "config" / "default.yaml").model_dump()
    s0 = base["sensors"][0]
    base["sensors"] = [dict(s0, id=f"bin-{i}-level", bin=f"bin-{i}") for i in (1, 2, 3)]
    base["stats"]["collection"]["schedule"] = SCHEDULE
    base["storage"]["state_dir"] = str(state_dir)
    return Config.model_validate(base)


def true_added_l(cfg: Config, sensor_id: str, capacity_l: float) -> float:
    """The scenario's own rises of the rubbish (its keyframes), in litres."""
    sensor = next(s for s in cfg.sensors if s.id == sensor_id)
    pct = [(sensor.empty_mm - mm) / (sensor.empty_mm - sensor.full_mm) * 100 for _t, mm in
           load_scenario("day_of_collection").sensors[sensor_id]]
    return sum(max(0.0, b - a) for a, b in zip(pct, pct[1:])) / 100 * capacity_l


@pytest.fixture(scope="module")
def day(tmp_path_factory):
    state = tmp_path_factory.mktemp("state")
    cfg = day_config(state)
    result = replay_day(cfg, "day_of_collection", MIDNIGHT, state, restarts=[15 * 3600])
    return cfg, result, state


def test_litres_per_bin_within_5_percent(day):
    cfg, result, _state = day
    doc = result.stats.document(DAY)
    for b in cfg.zones.bins:
        truth = true_added_l(cfg, f"{b.id}-level", b.capacity_l)
        got = doc["bins"][b.id]["added_l"]
        assert truth > 50 and abs(got - truth) <= 0.05 * truth, (b.id, got, truth)
        density = cfg.stats.densities_kg_per_l[b.waste_type]
        assert doc["bins"][b.id]["added_kg_est"] == pytest.approx(got * density, abs=0.2)


def test_emptyings_minutes_full_and_coverage(day):
    cfg, result, _state = day
    doc = result.stats.document(DAY)
    # the scenario empties bin-1 twice and bin-2 once; the lid spikes' "falls" are no emptying
    assert {b: v["emptied"] for b, v in doc["bins"].items()} == {"bin-1": 2, "bin-2": 1, "bin-3": 0}
    # the sensing rule agrees: the lid spikes (bin-1, bin-3) send no bin_emptied to the platform
    reported = [e.subject["bin_id"] for e in result.alarms if e.type == "bin_emptied"]
    assert sorted(reported) == ["bin-1", "bin-1", "bin-2"]
    # bin-2 is above the bin_full mark from about 19:41 to 21:01
    assert 70 <= doc["bins"]["bin-2"]["full_minutes"] <= 85
    assert doc["bins"]["bin-1"]["full_minutes"] == 0
    # the 10-minute gap of bin-2 shows in the coverage
    assert 1425 <= doc["coverage"]["fill_data_minutes"] <= 1432
    Daily.model_validate(doc)  # what the platform accepts


def test_collection_overdue_on_time_never_below_the_level(day):
    _cfg, result, _state = day
    overdue = [d for d in result.incidents if d["type"] == "collection_overdue"]
    assert {d["subject"]["bin_id"] for d in overdue} == {"bin-1"}  # bin-3 stays below 50 % at its deadline
    opened = [d for d in overdue if d["state"] == "open"]
    resolved = [d for d in overdue if d["state"] == "resolved"]
    assert len(opened) == 1 and len(resolved) == 1
    deadline = MIDNIGHT + 20.5 * 3600 + 3600 + 1800  # 20:30 + window + grace
    assert deadline <= dt.datetime.fromisoformat(opened[0]["opened_at"]).timestamp() <= deadline + 10
    emptied = MIDNIGHT + 22 * 3600 + 40 * 60  # the scenario empties bin-1 at 22:40
    t_res = dt.datetime.fromisoformat(resolved[0]["resolved_at"]).timestamp()
    assert emptied < t_res <= emptied + 180
    assert resolved[0]["severity"] == "warning"


def test_gedge_stats_shows_and_plots_the_day(day, tmp_path):
    cfg, _result, state = day
    text = (ROOT / "config" / "default.yaml").read_text()
    from edge.config.edit import edited_text

    text = edited_text(text, "storage.state_dir", str(state))
    path = tmp_path / "config.yaml"
    path.write_text(text)
    run = subprocess.run([sys.executable, "-m", "edge", "--config", str(path), "stats", "--day", DAY, "--json"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 0, run.stderr
    doc = json.loads(run.stdout)
    assert doc["date"] == DAY and doc["bins"]["bin-1"]["emptied"] == 2  # the shipped config watches bin-1
    png = tmp_path / "day.png"
    run = subprocess.run([sys.executable, "-m", "edge", "--config", str(path), "--lang", "zh", "stats", "--day", DAY,
                          "--plot", str(png)], capture_output=True, text=True, cwd=ROOT, timeout=120)
    assert run.returncode == 0, run.stderr
    assert "湿垃圾" in run.stdout and "missing from font" not in run.stderr
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 10_000
    run = subprocess.run([sys.executable, "-m", "edge", "--config", str(path), "stats", "--day", "28/11"],
                         capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert run.returncode == 2
