"""Every malformed config exits 2 with one line per problem naming the key and the line, and changes nothing."""
from __future__ import annotations

import hashlib
import re
import subprocess
import sys

import pytest

from edge.cli import main
from edge.config import ConfigError, load_file

# (name, old text in default.yaml, new text, expected key path, text on the line the message must point at)
CASES = [
    ("wrong type", "  fps: 10 ", "  fps: ten ", "camera.fps", "fps: ten"),
    ("unknown top-level key", "camera:\n", "cameras: {}\ncamera:\n", "cameras", "cameras:"),
    ("unknown nested key", "  fps: 10 ", "  fsp: 10 ", "camera.fsp", "fsp: 10"),
    ("inline secret", "    token_file: null", "    token: s3cret\n    token_file: null", "uplink.http.token", "token: s3cret"),
    ("bin polygon with 2 points", "[[200, 170], [320, 170], [320, 330], [200, 330]]", "[[200, 170], [320, 170]]",
     "zones.bins[1].polygon", "id: bin-2"),
    ("floor outside the frame", "floor: [[0, 260], [640, 260]", "floor: [[0, 260], [700, 260]", "zones.floor", "floor:"),
    ("negative duration", "incident_after_s: 60", "incident_after_s: -5", "rules.bag_outside_bin.incident_after_s",
     "incident_after_s: -5"),
    ("fill thresholds in the wrong order", "clear_pct: 70", "clear_pct: 95", "rules.bin_full", "bin_full:"),
    ("odor thresholds in the wrong order", "nh3: {open_ppm: 10, clear_ppm: 5}", "nh3: {open_ppm: 10, clear_ppm: 12}",
     "rules.odor_high.thresholds.nh3", "nh3: {open_ppm: 10"),
    ("reminder after incident", "remind_after_s: 3 ", "remind_after_s: 90 ", "rules.bag_outside_bin", "bag_outside_bin:"),
    ("missing token file", "    token_file: null", "    token_file: /nonexistent/platform.token",
     "uplink.http.token_file", "token_file: /nonexistent"),
    ("duplicate bin ids", "{id: bin-3,", "{id: bin-1,", "zones.bins[2].id", "{id: bin-1, polygon: [[340"),
    ("duplicate sensor ids", "  - id: odor-1", "  - id: bin-1-level", "sensors[1].id", "- id: bin-1-level\n    kind: odor"),
    ("sensor above an unknown bin", "    bin: bin-1 ", "    bin: bin-9 ", "sensors[0].bin", "bin: bin-9"),
    ("unknown time zone", "timezone: Asia/Shanghai", "timezone: Mars/Olympus", "device.timezone", "timezone: Mars"),
    ("imgsz not a multiple of 32", "imgsz: 416", "imgsz: 300", "vision.imgsz", "imgsz: 300"),
    ("full distance beyond empty", "full_mm: 250", "full_mm: 1500", "sensors[0]", "- id: bin-1-level"),
    ("serial driver without port", "    driver: sim                   # a02yy", "    driver: a02yy                 # a02yy",
     "sensors[0]", "- id: bin-1-level"),
    ("unknown driver", "    driver: sim                   # a02yy", "    driver: hc-sr05               # a02yy",
     "sensors[0].driver", "driver: hc-sr05"),
    ("bad platform URL", 'base_url: "http://127.0.0.1:8730/api"', 'base_url: "ftp://platform"', "uplink.http.base_url",
     "base_url:"),
    ("opening hours end before start", 'start: "18:00", end: "20:00"', 'start: "20:00", end: "18:00"',
     "schedule.opening_hours[1]", 'start: "20:00"'),
    ("quiet hours not a time", 'quiet_hours: {start: "21:00"', 'quiet_hours: {start: "25:99"', "voice.quiet_hours.start",
     "quiet_hours:"),
    ("confidence above 1", "  conf: 0.4 ", "  conf: 1.5 ", "vision.conf", "conf: 1.5"),
    ("voice language", "  lang: zh ", "  lang: fr ", "voice.lang", "lang: fr"),
    ("backoff in the wrong order", "    initial_s: 1 ", "    initial_s: 900 ", "uplink.backoff", "backoff:"),
]

YAML_SYNTAX_CASES = [
    ("unclosed bracket", "floor: [[0, 260], [640, 260]", "floor: [[0, 260], [640, 260"),
    ("bad indentation", "  fps: 10 ", "    fps: 10\n  bad"),
    ("duplicate key", "  fps: 10 ", "  fps: 10\n  fps: 12 "),
    ("tab character", "  fps: 10 ", "\tfps: 10 "),
]


def _mutate(text: str, old: str, new: str) -> str:
    assert old in text, f"test case out of date: {old!r} is not in config/default.yaml"
    return text.replace(old, new, 1)


def _line_of(text: str, needle: str) -> int:
    index = text.index(needle)
    return text[:index].count("\n") + 1 + needle[: len(needle) - len(needle.lstrip("\n"))].count("\n")


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_default_config_validates(capsys):
    assert main(["config", "validate", "config/default.yaml"]) == 0
    assert "ok" in capsys.readouterr().out


def test_at_least_twenty_distinct_cases():
    assert len({c[0] for c in CASES}) + len(YAML_SYNTAX_CASES) >= 20


@pytest.mark.parametrize("name,old,new,key,line_text", CASES, ids=[c[0] for c in CASES])
def test_invalid_config_names_key_and_line(tmp_path, default_config_text, capsys, name, old, new, key, line_text):
    text = _mutate(default_config_text, old, new)
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    before = _sha(path)

    assert main(["config", "validate", str(path)]) == 2

    err = capsys.readouterr().err.strip().splitlines()
    expected_line = _line_of(text, line_text.split("\n")[0]) if "\n" not in line_text else _line_of(text, line_text)
    wanted = f"{path}:{expected_line} {key}:"
    assert any(line.startswith(wanted) for line in err), f"expected a line starting {wanted!r}, got {err}"
    assert _sha(path) == before


@pytest.mark.parametrize("name,old,new", YAML_SYNTAX_CASES, ids=[c[0] for c in YAML_SYNTAX_CASES])
def test_yaml_syntax_error_says_line_and_column(tmp_path, default_config_text, capsys, name, old, new):
    path = tmp_path / "config.yaml"
    path.write_text(_mutate(default_config_text, old, new), encoding="utf-8")
    before = _sha(path)
    assert main(["config", "validate", str(path)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"{path}:"), err
    line, col = err[len(str(path)) + 1:].split(" ")[0].split(":")[:2]
    assert int(line) > 1 and int(col) >= 1
    assert "YAML syntax error" in err
    assert _sha(path) == before


def test_several_problems_give_one_line_each(tmp_path, default_config_text):
    text = _mutate(_mutate(default_config_text, "  fps: 10 ", "  fps: -1 "), "imgsz: 416", "imgsz: 33")
    path = tmp_path / "c.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as info:
        load_file(path)
    assert len(info.value.problems) == 2
    assert {p.split(" ")[1] for p in info.value.problems} == {"camera.fps:", "vision.imgsz:"}


def test_token_file_relative_to_config_dir(tmp_path, default_config_text):
    (tmp_path / "platform.token").write_text("t0ken\n")
    path = tmp_path / "config.yaml"
    path.write_text(_mutate(default_config_text, "    token_file: null", "    token_file: platform.token"))
    assert load_file(path).uplink.http.token_file == "platform.token"


def test_validate_exit_code_through_the_console_script(tmp_path, default_config_text):
    path = tmp_path / "config.yaml"
    path.write_text(_mutate(default_config_text, "  fps: 10 ", "  fps: ten "))
    run = subprocess.run([sys.executable, "-m", "edge", "config", "validate", str(path)], capture_output=True, text=True)
    assert run.returncode == 2
    assert "camera.fps" in run.stderr and "Traceback" not in run.stderr


def test_default_config_mentions_every_key(default_config_text):
    """config/default.yaml holds every key: as a setting, or (driver-specific sensor keys) in a commented example."""
    import typing

    from pydantic import BaseModel

    from edge.config.schema import Config

    text = default_config_text
    fields: set[tuple[str, str]] = set()

    def walk(model: type[BaseModel]) -> None:
        for name, info in model.model_fields.items():
            if (model.__name__, name) in fields:
                continue
            fields.add((model.__name__, name))
            stack = [info.annotation]
            while stack:
                t = stack.pop()
                if isinstance(t, type) and issubclass(t, BaseModel):
                    walk(t)
                stack.extend(typing.get_args(t))

    walk(Config)
    assert len(fields) > 100
    missing = sorted(f"{m}.{n}" for m, n in fields if not re.search(rf"\b{n}\s*:", text))
    assert missing == []
