"""Values that validate must run; the site template refuses to pass for a box until it is named;
`config set` on a block keeps its comments and the file's BOM and line ends; `config validate`
finds a missing model; `gedge run` refuses the simulated room unless asked to simulate."""
from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from edge.cli import main
from edge.config import ConfigError, load_file
from edge.config.edit import edited_text, parse_value
from edge.config.loader import validate_text
from edge.config.schema import Config, simulated_parts

ROOT = Path(__file__).resolve().parent.parent


def _site_template() -> str:
    from edge.config.template import site_template

    return site_template((ROOT / "config" / "default.yaml").read_text(encoding="utf-8"))


def _problems(text: str) -> list[str]:
    with pytest.raises(ConfigError) as e:
        validate_text(text, "c.yaml")
    return e.value.problems


@pytest.mark.parametrize("key,value,fragment", [
    ("uplink.http.read_timeout_s", "1e300", "uplink.http.read_timeout_s"),  # stopped every upload
    ("voice.play_timeout_s", "1e300", "voice.play_timeout_s"),  # crashed the agent on stop
    ("voice.play_timeout_s", ".inf", "finite"),
    ("rules.bag_outside_bin.incident_after_s", ".nan", "finite"),
    ("uplink.telemetry_backlog", str(2 ** 63 + 1), "uplink.telemetry_backlog"),  # stopped telemetry
    ("uplink.mqtt.keepalive_s", "99999999", "uplink.mqtt.keepalive_s"),
    ("sensors[0].baudrate", "10000000000", "sensors[0].baudrate"),
    ("sensors[0].empty_mm", "1e12", "sensors[0].empty_mm"),
    ("storage.snapshot_quota_mb", "1e30", "storage.snapshot_quota_mb"),
    ("actuators[0].hold_s", "1e20", "actuators[0].hold_s"),
    ("zones.floor", "[[0, 0], [.inf, 0], [0, 10]]", "finite"),
    ("sensors[0].filters", "[{median: {window_size: 1000000000000}}]", "at most"),
    ("sensors[0].filters", "[{throttle: 1e300s}]", "duration"),
    ("rules.odor_high.thresholds.nh3.open_ppm", "1e300", "open_ppm"),
])
def test_numbers_out_of_any_sane_range_are_refused(default_config_text, key, value, fragment):
    problems = _problems(edited_text(default_config_text, key, parse_value(value)))
    assert any(fragment in p for p in problems), problems


@pytest.mark.parametrize("yaml_value,what", [
    ('"飘鹰\\udc80居民区"', "surrogate"),  # a lone surrogate stopped every incident
    ('"飘鹰\\x1b[31m居民区"', "control character"),
    ('"飘鹰\\u0000"', "control character"),
])
def test_text_with_control_characters_or_lone_surrogates_is_refused(default_config_text, yaml_value, what):
    text = default_config_text.replace("community: 示例居民区", f"community: {yaml_value}")
    assert text != default_config_text
    problems = _problems(text)
    assert any("device.site.community" in p and what in p for p in problems), problems


def test_a_spoken_prompt_may_span_lines(default_config_text):
    text = edited_text(default_config_text, "voice.prompts", {"bag_on_floor": {"zh": "请把垃圾\n投进桶里"}})
    cfg, _ = validate_text(text)
    assert cfg.voice.prompts["bag_on_floor"]["zh"] == "请把垃圾\n投进桶里"


def test_show_json_never_prints_infinity(config_file, capsys):
    assert main(["--config", str(config_file), "config", "show", "--json"]) == 0
    out = capsys.readouterr().out
    json.loads(out, parse_constant=lambda c: pytest.fail(f"non-standard JSON constant {c}"))


def _alias_bomb(levels: int = 9) -> str:
    lines = ['a0: &a0 ["lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol", "lol"]']
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]")
    lines.append(f"device: {{id: x, site: {{community: *a{levels - 1}}}}}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_is_refused_fast_with_exit_2(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb())  # 9**9 = 387 million strings once expanded
    t0 = time.monotonic()
    run = subprocess.run([sys.executable, "-m", "edge", "config", "validate", str(path)],
                         capture_output=True, text=True, timeout=60, cwd=ROOT)
    elapsed = time.monotonic() - t0
    assert run.returncode == 2, run.stderr
    assert "aliases" in run.stderr and "Traceback" not in run.stderr
    # the interpreter's own start-up takes most of this; the refusal itself is a bounded walk
    assert elapsed < 20, elapsed
    t0 = time.monotonic()
    with pytest.raises(ConfigError):
        validate_text(_alias_bomb(), "bomb.yaml")
    assert time.monotonic() - t0 < 1.0


def test_a_few_aliases_are_fine(default_config_text):
    text = default_config_text.replace("  floor: [[0, 260], [640, 260], [640, 480], [0, 480]]",
                                       "  floor: &floor [[0, 260], [640, 260], [640, 480], [0, 480]]")
    text += "\nx-copy: *floor\n"
    problems = _problems(text)  # the extra key is unknown, but the aliases themselves are accepted
    assert problems and all("aliases" not in p for p in problems)


# --- the site template -------------------------------------------------------------------------

def test_the_site_template_does_not_validate_until_the_box_is_named(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    assert main(["config", "template"]) == 0  # what `make install` writes
    path.write_text(capsys.readouterr().out, encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_file(path)
    keys = {p.split(" ")[1].rstrip(":") for p in e.value.problems}
    assert keys == {"device.id", "device.site.community", "device.site.point_id", "camera.source"}
    before = path.read_bytes()
    assert main(["--config", str(path), "config", "set", "device.id", "hk-jxl-piaoying-03"]) == 2  # incomplete
    assert path.read_bytes() == before
    assert main(["--config", str(path), "config", "set", "device.id", "hk-jxl-piaoying-03",
                 "device.site.community", "飘鹰居民区", "device.site.point_id", "HK-JXL-0317",
                 "camera.source", "rtsp://192.0.2.10/stream1"]) == 0  # all four at once
    assert main(["--config", str(path), "config", "set", "camera.fps", "5", "camera.width"]) == 2  # no value
    cfg = load_file(path)
    assert cfg.device.id == "hk-jxl-piaoying-03" and cfg.device.site.community == "飘鹰居民区"
    assert simulated_parts(cfg) == []  # nothing simulated is left in a completed template
    assert cfg.sensors == [] and cfg.actuators == []
    assert simulated_parts(cfg) == []  # nothing simulated is left in a completed template
    assert cfg.sensors == [] and cfg.actuators == []


def test_the_site_template_keeps_every_key_and_comment_of_the_default():
    default = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    site = _site_template()
    lines = default.splitlines()
    comments = [ln.split("#", 1)[1] for ln in lines if "#" in ln and not ln.startswith("#")]

    def items_of(block: str) -> set[str]:  # the comments on the simulated items of a top-level list
        start = next(i for i, ln in enumerate(lines) if ln.startswith(block + ":"))
        end = next(i for i in range(start + 1, len(lines)) if lines[i] and not lines[i].startswith((" ", "#")))
        return {ln.split("#", 1)[1] for ln in lines[start + 1:end] if "#" in ln and not ln.lstrip().startswith("#")}

    lost = {c for c in comments if c not in site}
    assert lost and lost <= items_of("sensors") | items_of("actuators"), lost  # only the simulated items' own
    assert "# Real hardware, one example per driver" in site and "# Real hardware: - {id: fan-1" in site
    drivers = [ln.split("driver:")[1].split()[0] for ln in site.splitlines()
               if "driver:" in ln and not ln.lstrip().startswith("#")]
    assert drivers == [], drivers


@pytest.mark.parametrize("text", ["", "# only a comment\n", "{}\n"])
def test_an_empty_file_does_not_validate(tmp_path, text, capsys):
    path = tmp_path / "config.yaml"
    path.write_text(text, encoding="utf-8")
    assert main(["config", "validate", str(path)]) == 2
    assert "empty" in capsys.readouterr().err
    assert main(["--config", str(path), "config", "set", "device.id", "x"]) == 0  # a file can still be started


def test_an_empty_section_written_empty_is_not_a_site(default_config_text):
    problems = _problems(edited_text(default_config_text, "device.site.point_id", ""))
    assert any("device.site.point_id" in p and "must be set" in p for p in problems)
    assert Config().device.site.point_id == ""  # the built-in default (tests, the sim) is untouched


# --- config set on a block ---------------------------------------------------------------------

HARDWARE_EXAMPLES = "  # - {id: odor-1, kind: odor, driver: ze03, port: /dev/ttyUSB0, gas: nh3, mode: active}"


def test_setting_the_whole_sensor_list_keeps_the_hardware_examples(config_file, capsys):
    value = "[{id: odor-9, kind: odor, driver: ze03, port: /dev/ttyUSB0, gas: nh3}]"
    assert main(["--config", str(config_file), "config", "set", "sensors", value]) == 0, capsys.readouterr().err
    text = config_file.read_text(encoding="utf-8")
    assert HARDWARE_EXAMPLES in text
    assert "# Real hardware, one example per driver" in text
    assert "sensors:                          # fill-level and odor sensors" in text
    assert [s.id for s in load_file(config_file).sensors] == ["odor-9"]
    # the examples still close the list: they come after its last item, before `voice:`
    assert text.index("odor-9") < text.index(HARDWARE_EXAMPLES) < text.index("\nvoice:")


def test_setting_a_mapping_keeps_the_comments_of_what_stays(config_file, capsys):
    value = ("{floor: [[0, 200], [640, 200], [640, 480], [0, 480]], "
             "bins: [{id: bin-1, polygon: [[60, 170], [180, 170], [180, 330], [60, 330]]}]}")
    assert main(["--config", str(config_file), "config", "set", "zones", value]) == 0, capsys.readouterr().err
    text = config_file.read_text(encoding="utf-8")
    assert "# the watched floor" in text and '# one polygon per bin; a bag whose box bottom-centre' in text
    assert [b.id for b in load_file(config_file).zones.bins] == ["bin-1"]


def test_emptying_and_refilling_the_sensors_of_the_site_template_keeps_its_examples(tmp_path):
    text = _site_template()
    assert HARDWARE_EXAMPLES in text
    one = edited_text(text, "sensors[0]", {"id": "odor-1", "kind": "odor", "driver": "ze03",
                                           "port": "/dev/ttyUSB0", "gas": "nh3"})
    two = edited_text(one, "sensors[1]", {"id": "odor-2", "kind": "odor", "driver": "ze03",
                                          "port": "/dev/ttyUSB1", "gas": "h2s"})
    none = edited_text(two, "sensors", [])
    for t in (one, two, none):
        assert HARDWARE_EXAMPLES in t
        assert t.index("sensors:") < t.index(HARDWARE_EXAMPLES) < t.index("\nvoice:")
    assert one.index("id: odor-1") < one.index(HARDWARE_EXAMPLES)
    assert "sensors: []" in none


def test_a_list_or_section_the_file_does_not_have_yet_is_added():
    text = "device:\n  id: x\n"
    out = edited_text(text, "zones.bins[0]", {"id": "bin-1", "polygon": [[0, 0], [10, 0], [10, 10]]})
    assert "zones:\n  bins:\n    - id: bin-1\n      polygon: [[0, 0], [10, 0], [10, 10]]\n" in out
    out = edited_text(out, "actuators[0]", {"id": "fan-1", "driver": "sim"})
    cfg, _ = validate_text(out)
    assert cfg.zones.bins[0].id == "bin-1" and cfg.actuators[0].id == "fan-1"


def test_a_bom_and_crlf_line_ends_survive_a_set(config_file, default_config_text, capsys):
    raw = "\ufeff" + default_config_text.replace("\n", "\r\n")
    config_file.write_bytes(raw.encode("utf-8"))
    assert main(["--config", str(config_file), "config", "set", "camera.fps", "5"]) == 0, capsys.readouterr().err
    assert main(["--config", str(config_file), "config", "set", "sensors[0].empty_mm", "1300"]) == 0
    data = config_file.read_bytes()
    assert data.startswith(b"\xef\xbb\xbf")
    assert data.count(b"\r\n") == data.count(b"\n")  # every line end is still CRLF
    assert load_file(config_file).camera.fps == 5
    expected = raw.replace("  fps: 10 ", "  fps: 5  ").replace("    empty_mm: 1200 ", "    empty_mm: 1300 ")
    assert data.decode("utf-8") == expected  # nothing else changed


# --- config validate and the model file ---------------------------------------------------------

def test_validate_says_when_the_model_file_is_missing(config_file, capsys):
    assert main(["--config", str(config_file), "config", "validate"]) == 0
    text = edited_text(config_file.read_text(encoding="utf-8"), "vision.model", "models/no-such-model.onnx")
    config_file.write_text(text, encoding="utf-8")
    capsys.readouterr()
    assert main(["--config", str(config_file), "config", "validate"]) == 2
    err = capsys.readouterr().err
    assert "vision.model" in err and "no-such-model.onnx" in err


def test_validate_says_when_the_verifier_file_is_missing_and_not_when_it_is_off(config_file, capsys):
    text = edited_text(config_file.read_text(encoding="utf-8"), "vision.verifier.model", "models/no-such-verifier.onnx")
    config_file.write_text(text, encoding="utf-8")
    assert main(["--config", str(config_file), "config", "validate"]) == 2
    err = capsys.readouterr().err
    assert "vision.verifier.model" in err and "no-such-verifier.onnx" in err
    config_file.write_text(edited_text(text, "vision.verifier.model", ""), encoding="utf-8")
    assert main(["--config", str(config_file), "config", "validate"]) == 0, capsys.readouterr().err


# --- gedge run and the simulated room -----------------------------------------------------------

def _run(config: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "edge", "--config", str(config), "run", "--duration", "1", *extra],
                          capture_output=True, text=True, timeout=120, cwd=ROOT)


def _quiet_config(tmp: Path, **changes) -> Path:
    text = (ROOT / "config" / "default.yaml").read_text(encoding="utf-8")
    for key, value in {"uplink.http.enabled": False, "voice.enabled": False, "actuators": [],
                       "storage.state_dir": str(tmp / "state"), "storage.cache_dir": str(tmp / "cache"),
                       **changes}.items():
        text = edited_text(text, key, value)
    path = tmp / "config.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_gedge_run_refuses_the_simulated_room_unless_asked(tmp_path):
    config = _quiet_config(tmp_path)
    refused = _run(config)
    assert refused.returncode == 2, refused.stderr
    assert "camera.source" in refused.stderr and "sensors[0].driver" in refused.stderr
    assert "--simulation" in refused.stderr and "Traceback" not in refused.stderr
    assert not (tmp_path / "state").exists()  # refused before anything started
    ran = _run(config, "--simulation")
    assert ran.returncode == 0, ran.stderr


def test_a_reload_onto_the_simulated_room_is_refused(tmp_path):
    from edge.runtime.service import Service

    config = _quiet_config(tmp_path, sensors=[])
    service = Service(config)
    with pytest.raises(ConfigError) as e:
        service._load()
    assert any("camera.source" in p for p in e.value.problems)
    assert Service(config, simulation=True)._load().camera.source.startswith("sim:")
