"""`gedge sensors list | read | calibrate`, against sim sensors and a real pty-backed serial sensor."""
from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import load_file
from hw.sensors.emulator import PtyPair, SensorEmulator

SIM_CONFIG = """\
# site config for the test
camera:
  source: "sim:none"              # no scenario: sim sensors give steady values
sensors:
  - id: bin-1-level
    kind: fill
    driver: sim
    empty_mm: 1200                # measured with the bin empty
    full_mm: 200
    poll_s: 0.1
  - id: odor-1
    kind: odor
    driver: sim
    gas: nh3
    poll_s: 0.1
"""

needs_socat = pytest.mark.skipif(shutil.which("socat") is None, reason="socat is not installed (apt install socat)")


@pytest.fixture
def sim_config(tmp_path) -> Path:
    p = tmp_path / "config.yaml"
    p.write_text(SIM_CONFIG, encoding="utf-8")
    return p


def run(capsys, *argv) -> tuple[int, str, str]:
    rc = main(list(argv))
    out, err = capsys.readouterr()
    return rc, out, err


def test_list_text_and_json(sim_config, capsys):
    rc, out, _ = run(capsys, "sensors", "list", "--config", str(sim_config))
    assert rc == 0
    assert "bin-1-level" in out and "empty_mm=1200" in out and "gas nh3" in out
    rc, out, _ = run(capsys, "sensors", "list", "--json", "--config", str(sim_config))
    rows = [json.loads(line) for line in out.splitlines()]
    assert [r["id"] for r in rows] == ["bin-1-level", "odor-1"]
    assert rows[0]["driver"] == "sim" and rows[0]["full_mm"] == 200


def test_read_once_json_through_the_console_script(sim_config):
    proc = subprocess.run([sys.executable, "-m", "edge", "sensors", "read", "--once", "--json", "--config", str(sim_config)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    rows = {r["id"]: r for r in map(json.loads, proc.stdout.splitlines())}
    assert set(rows) == {"bin-1-level", "odor-1"}
    fill = rows["bin-1-level"]
    assert {k: fill[k] for k in ("kind", "raw", "value", "unit", "state")} == {
        "kind": "fill", "raw": 700.0, "value": 50.0, "unit": "%", "state": "ok"}
    assert rows["odor-1"]["unit"] == "ppm" and rows["odor-1"]["value"] == 1.0
    # the counters go to stderr: stdout stays one JSON reading per line
    assert "# bin-1-level: " in proc.stderr and "frames" in proc.stderr


def test_read_seconds_streams_and_stops(sim_config, capsys):
    rc, out, _ = run(capsys, "sensors", "read", "odor-1", "--json", "--seconds", "1.5", "--config", str(sim_config))
    assert rc == 0
    rows = [json.loads(line) for line in out.splitlines()]
    assert len(rows) >= 2 and {r["id"] for r in rows} == {"odor-1"}  # poll_s 0.1: ~15 on an idle machine


def test_read_once_fails_when_a_sensor_is_silent(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text(f"sensors:\n  - {{id: bin-9, kind: fill, driver: a02yy, port: {tmp_path}/nothing, "
                   "empty_mm: 1000, full_mm: 100, timeout_s: 0.5}\n", encoding="utf-8")
    rc, out, err = run(capsys, "sensors", "read", "--once", "--config", str(cfg))
    assert rc == 1 and "bin-9: no reading" in err and "cannot open" in err


def test_read_unknown_id_and_bad_config_are_usage_errors(sim_config, tmp_path, capsys):
    rc, _, err = run(capsys, "sensors", "read", "nope", "--once", "--config", str(sim_config))
    assert rc == 2 and "nope" in err
    bad = tmp_path / "bad.yaml"
    bad.write_text("sensors:\n  - {id: s, kind: fill, driver: sim, empty_mm: 100, full_mm: 300, filters: [{median: {window: 3}}]}\n")
    rc, _, err = run(capsys, "sensors", "list", "--config", str(bad))
    assert rc == 2 and "sensors[0]" in err


@needs_socat
def test_calibrate_empty_measures_a_real_serial_sensor_and_keeps_comments(tmp_path, capsys):
    with PtyPair(tmp_path / "tty.sensor", tmp_path / "tty") as pair:
        emu = SensorEmulator(pair.a, "a02yy", lambda t: 1100 if int(t * 20) % 7 else 1300, period_s=0.02).start()
        cfg = tmp_path / "config.yaml"
        cfg.write_text(f"""\
# garbage room 3
sensors:
  - id: bin-1-level   # above the kitchen-waste bin
    kind: fill
    driver: a02yy
    port: {pair.b}
    empty_mm: 900                 # guessed at install
    full_mm: 250
""", encoding="utf-8")
        try:
            rc, out, err = run(capsys, "sensors", "calibrate", "bin-1-level", "--empty", "--samples", "9", "--config", str(cfg))
        finally:
            emu.stop()
    assert rc == 0, err
    assert "empty = 1100 mm (median of 9 readings)" in out  # the odd 1300 mm echo is voted out
    text = cfg.read_text()
    assert "empty_mm: 1100                # guessed at install" in text
    assert "# above the kitchen-waste bin" in text and text.startswith("# garbage room 3")
    assert load_file(cfg).sensors[0].empty_mm == 1100
    assert list((tmp_path / "backups").glob("config.yaml.*.bak"))


def test_calibrate_full_value_that_does_not_validate_changes_nothing(sim_config, capsys):
    before = sim_config.read_text()
    rc, _, err = run(capsys, "sensors", "calibrate", "bin-1-level", "--full", "--value", "1500", "--config", str(sim_config))
    assert rc == 2 and "full_mm" in err
    assert sim_config.read_text() == before


def test_calibrate_full_with_sim_and_dry_run(sim_config, capsys):
    rc, out, _ = run(capsys, "sensors", "calibrate", "bin-1-level", "--full", "--samples", "2", "--dry-run",
                     "--config", str(sim_config))
    assert rc == 0 and "full = 700 mm" in out
    assert "full_mm: 200" in sim_config.read_text()


def test_calibrate_r0_writes_nested_curve(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("sensors:\n  - id: odor-2\n    kind: odor\n    driver: mcp3008-mq\n    adc_channel: 0\n    gas: nh3\n")
    rc, out, err = run(capsys, "sensors", "calibrate", "odor-2", "--r0", "--value", "7.25", "--config", str(cfg))
    assert rc == 0, err
    assert load_file(cfg).sensors[0].curve.r0_kohm == 7.25


def test_calibrate_wrong_kind_is_a_usage_error(sim_config, capsys):
    rc, _, err = run(capsys, "sensors", "calibrate", "odor-1", "--empty", "--config", str(sim_config))
    assert rc == 2 and "odor sensor" in err
    rc, _, err = run(capsys, "sensors", "calibrate", "bin-1-level", "--r0", "--config", str(sim_config))
    assert rc == 2 and "mcp3008-mq" in err
