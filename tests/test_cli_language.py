"""The CLI speaks the user's language (--lang, device.ui_lang, the locale), and config problems
are told in the user's words: did you mean, tabs, file encodings, what an id may hold."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys

import pytest

from conftest import ROOT
from edge.cli import main
from edge.config import ConfigError, load_file

BROKEN = "device:\n  id: box-1\n  timezon: Asia/Shanghai\n"  # a typo'd key
HAN = re.compile(r"[\u4e00-\u9fff]")


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


@pytest.fixture
def broken(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(BROKEN, encoding="utf-8")
    return path


def _locale(monkeypatch, lang: str) -> None:
    for var in ("LANGUAGE", "LC_ALL", "LC_MESSAGES"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("LANG", lang)


# -- choosing the language ------------------------------------------------------------------

def test_lang_zh_tells_config_problems_in_chinese(capsys, broken):
    code, _, err = run(capsys, "--lang", "zh", "config", "validate", str(broken))
    assert code == 2
    assert f"{broken}:3 device.timezon: 没有这一项：是不是想写 timezone？" in err


def test_the_lang_option_works_after_the_command_too(capsys, broken):
    code, _, err = run(capsys, "config", "validate", str(broken), "--lang", "zh")
    assert code == 2 and "是不是想写 timezone" in err


def test_a_chinese_locale_gives_chinese(capsys, broken, monkeypatch):
    _locale(monkeypatch, "zh_CN.UTF-8")
    code, _, err = run(capsys, "config", "validate", str(broken))
    assert code == 2 and "是不是想写 timezone" in err


def test_lang_en_overrides_a_chinese_locale(capsys, broken, monkeypatch):
    _locale(monkeypatch, "zh_CN.UTF-8")
    code, _, err = run(capsys, "--lang", "en", "config", "validate", str(broken))
    assert code == 2
    assert "unknown key: did you mean timezone?" in err
    assert not HAN.search(err)


def test_an_english_locale_gives_english(capsys, broken, monkeypatch):
    _locale(monkeypatch, "en_US.UTF-8")
    code, _, err = run(capsys, "config", "validate", str(broken))
    assert "did you mean timezone?" in err and not HAN.search(err)


def test_ui_lang_in_the_config_chooses_chinese_even_for_its_own_problems(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  ui_lang: zh\n  idd: box-1\n", encoding="utf-8")
    code, _, err = run(capsys, "config", "validate", str(path))
    assert code == 2 and "是不是想写 id？" in err


def test_lang_option_wins_over_ui_lang(capsys, tmp_path, monkeypatch):
    _locale(monkeypatch, "zh_CN.UTF-8")
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  ui_lang: zh\n  idd: box-1\n", encoding="utf-8")
    code, _, err = run(capsys, "--lang", "en", "config", "validate", str(path))
    assert code == 2 and "did you mean id?" in err and not HAN.search(err)


def test_ui_lang_en_wins_over_a_chinese_locale(capsys, tmp_path, monkeypatch):
    _locale(monkeypatch, "zh_CN.UTF-8")
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  ui_lang: en\n", encoding="utf-8")
    code, out, _ = run(capsys, "config", "validate", str(path))
    assert code == 0 and out.strip() == f"{path}: ok"


def test_ui_lang_accepts_only_zh_and_en(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  ui_lang: fr\n", encoding="utf-8")
    with pytest.raises(ConfigError) as e:
        load_file(path)
    assert "device.ui_lang" in e.value.problems[0] and "'zh'" in e.value.problems[0]


def test_success_output_and_help_are_translated(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("device:\n  id: box-1\n", encoding="utf-8")
    code, out, _ = run(capsys, "--lang", "zh", "config", "validate", str(path))
    assert code == 0 and out.strip() == f"{path}：配置没有问题"
    with pytest.raises(SystemExit):
        main(["--lang", "zh", "config", "--help"])
    out = capsys.readouterr().out
    assert "用法：" in out and "现在用的是哪个配置文件" in out and "--lang {zh,en}" in out


def test_argparse_usage_errors_are_translated(capsys):
    with pytest.raises(SystemExit) as e:
        main(["--lang", "zh", "config", "frobnicate"])
    err = capsys.readouterr().err
    assert e.value.code == 2
    assert "没有 'frobnicate' 这个选项" in err and "invalid choice" not in err


def test_every_command_takes_lang(capsys):
    """--lang is a global option: each command's parser knows it."""
    from edge.cli import build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.dest == "command")
    for name, command in sub.choices.items():
        assert any("--lang" in a.option_strings for a in command._actions), name


def test_a_real_process_under_a_chinese_locale(broken):
    """End to end, as a technician's shell runs it: no --lang, LANG=zh_CN.UTF-8."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES")}
    env["LANG"] = "zh_CN.UTF-8"
    run_ = subprocess.run([sys.executable, "-m", "edge", "config", "validate", str(broken)],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert run_.returncode == 2
    assert "是不是想写 timezone" in run_.stderr


# -- config problems in the user's words ----------------------------------------------------

def _problems(tmp_path, data: bytes) -> list[str]:
    path = tmp_path / "config.yaml"
    path.write_bytes(data)
    with pytest.raises(ConfigError) as e:
        load_file(path)
    return e.value.problems


def test_unknown_key_suggests_the_close_one(tmp_path):
    problems = _problems(tmp_path, b"camra:\n  fps: 5\nzones:\n  bins:\n    - id: b1\n      polygn: [[0,0],[9,0],[9,9]]\n")
    assert any(p.endswith("camra: unknown key: did you mean camera?") for p in problems), problems
    assert any("zones.bins[0].polygn: unknown key: did you mean polygon?" in p for p in problems), problems


def test_unknown_key_in_a_sensor_suggests_its_keys(tmp_path):
    problems = _problems(tmp_path, b"sensors:\n  - id: fill-1\n    kind: fill\n    driver: sim\n    bin: b1\n    timout_s: 5\n")
    assert any("sensors[0].timout_s: unknown key: did you mean timeout_s?" in p for p in problems), problems


def test_unknown_key_with_nothing_close_lists_the_allowed_keys(tmp_path):
    problems = _problems(tmp_path, b"device:\n  zzzz: 1\n")
    assert len(problems) == 1 and ":2 device.zzzz: unknown key (the keys allowed here: " in problems[0]
    allowed = problems[0].split("allowed here: ")[1].rstrip(")").split(", ")
    assert {"id", "site", "timezone", "ui_lang"} <= set(allowed)


def test_a_tab_says_use_spaces(tmp_path):
    problems = _problems(tmp_path, b"device:\n  id: box-1\n  site:\n\tcommunity: x\n")
    assert problems == [f"{tmp_path / 'config.yaml'}:4:1 YAML syntax error: a tab is used to indent: "
                        "use spaces to indent (YAML does not allow tabs)"]


def test_several_tabs_name_their_lines(tmp_path):
    problems = _problems(tmp_path, b"device:\n\tid: box-1\n\ttimezone: UTC\n")
    assert "use spaces to indent" in problems[0] and "lines 2, 3" in problems[0]


def test_a_gbk_file_says_save_as_utf8(tmp_path):
    problems = _problems(tmp_path, "device:\n  site:\n    community: 示例居民区\n".encode("gbk"))
    assert len(problems) == 1
    assert ":3 the file is saved as GBK, not UTF-8: save the file as UTF-8" in problems[0]
    assert "codec" not in problems[0]  # not Python's UnicodeDecodeError


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-le", "utf-16-be"])
def test_a_utf16_file_says_save_as_utf8(tmp_path, encoding):
    problems = _problems(tmp_path, "device:\n  id: box-1\n".encode(encoding))
    assert "the file is saved as UTF-16, not UTF-8: save the file as UTF-8" in problems[0]


def test_a_utf8_file_with_a_bom_still_reads(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_bytes(b"\xef\xbb\xbfdevice:\n  id: box-1\n")
    assert load_file(path).device.id == "box-1"


def test_an_id_pattern_is_told_in_words_not_as_a_regex(tmp_path):
    problems = _problems(tmp_path, "device:\n  id: 一号 box\n".encode())
    assert "device.id: may hold only letters (A-Z, a-z), digits (0-9) and . _ -" in problems[0]
    assert "^[" not in problems[0] and "{0,63}" not in problems[0]


def test_camera_source_0_is_the_usb_camera(tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text("camera:\n  source: 0\n", encoding="utf-8")
    assert load_file(path).camera.source == "0"


def test_numbers_out_of_range_say_the_bound_in_words(tmp_path, capsys):
    path = tmp_path / "config.yaml"
    path.write_text("camera:\n  fps: 0\n", encoding="utf-8")
    code, _, err = run(capsys, "--lang", "zh", "config", "validate", str(path))
    assert code == 2 and "camera.fps: 要大于 0（现在写的是 0）" in err
    code, _, err = run(capsys, "--lang", "en", "config", "validate", str(path))
    assert "camera.fps: must be more than 0 (got 0)" in err and "Input should" not in err


def test_config_get_with_a_typo_suggests_the_key(capsys):
    code, _, err = run(capsys, "config", "get", "zones.bins[0].polygn")
    assert code == 2 and err.strip() == "zones.bins[0].polygn: no such key: did you mean zones.bins[0].polygon?"
    code, _, err = run(capsys, "--lang", "zh", "config", "get", "camra.fps")
    assert code == 2 and err.strip() == "camra.fps：没有这一项：是不是想写 camera.fps？"


def test_doctor_in_chinese_keeps_json_in_english(capsys, tmp_path):
    path = tmp_path / "config.yaml"
    path.write_text(f"storage:\n  state_dir: {tmp_path / 'state'}\n  cache_dir: {tmp_path / 'cache'}\n", encoding="utf-8")
    code, out, _ = run(capsys, "--lang", "zh", "--config", str(path), "doctor", "--only", "clock", "--only", "outbox")
    assert code == 0, out
    lines = out.splitlines()
    assert lines[1].split() == ["检查项", "状态", "说明"]
    assert lines[2].startswith("系统时间") and "正常" in lines[2]
    assert lines[3].startswith("待发队列") and "空的（还没建立）" in lines[3]
    assert lines[-1] == "全部检查通过"
    code, out, _ = run(capsys, "--lang", "zh", "--config", str(path), "doctor", "--only", "outbox", "--json")
    row = json.loads(out)
    assert row["name"] == "outbox" and row["status"] == "ok"  # data stays machine-readable


@pytest.mark.parametrize("journal", [False, True])
def test_gedge_run_speaks_english_to_the_journal(broken, journal):
    """Under systemd what `gedge run` prints is the log: English even with a Chinese locale."""
    env = {k: v for k, v in os.environ.items() if k not in ("LANGUAGE", "LC_ALL", "LC_MESSAGES", "JOURNAL_STREAM")}
    env["LANG"] = "zh_CN.UTF-8"
    if journal:
        env["JOURNAL_STREAM"] = "8:12345"
    run_ = subprocess.run([sys.executable, "-m", "edge", "run", "--config", str(broken), "--duration", "1"],
                          capture_output=True, text=True, env=env, cwd=ROOT, timeout=60)
    assert run_.returncode == 2
    if journal:
        assert "unknown key: did you mean timezone?" in run_.stderr and not HAN.search(run_.stderr)
    else:
        assert "是不是想写 timezone" in run_.stderr
