"""`gedge config …` changes files safely: comments kept, invalid changes refused, atomic, backed up."""
from __future__ import annotations

import hashlib
import json
import subprocess
import sys

import pytest

from edge.cli import build_parser, main
from edge.config import load_file
from edge.config.edit import KEEP_BACKUPS, list_backups


def _sha(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def run(capsys, *argv) -> tuple[int, str, str]:
    code = main(list(argv))
    out = capsys.readouterr()
    return code, out.out, out.err


def test_set_changes_one_line_and_keeps_comments(config_file, capsys):
    before = config_file.read_text().splitlines()
    code, _, err = run(capsys, "--config", str(config_file), "config", "set", "rules.bag_outside_bin.incident_after_s", "90")
    assert code == 0, err
    after = config_file.read_text().splitlines()
    changed = [(a, b) for a, b in zip(before, after) if a != b]
    assert len(before) == len(after)
    assert changed == [(
        "    incident_after_s: 60          # still there this long: incident to the platform",
        "    incident_after_s: 90          # still there this long: incident to the platform",
    )]
    assert load_file(config_file).rules.bag_outside_bin.incident_after_s == 90


def test_set_inside_a_list_and_new_keys(config_file, capsys):
    assert run(capsys, "config", "set", "--config", str(config_file), "sensors[0].empty_mm", "1300")[0] == 0
    assert run(capsys, "config", "set", "--config", str(config_file), "zones.bins[2].polygon", "[[1, 1], [50, 1], [50, 50]]")[0] == 0
    assert run(capsys, "config", "set", "--config", str(config_file), "vision.motion.recheck_s", "7.5")[0] == 0
    cfg = load_file(config_file)
    assert cfg.sensors[0].empty_mm == 1300
    assert cfg.zones.bins[2].polygon == [(1, 1), (50, 1), (50, 50)]
    assert cfg.vision.motion.recheck_s == 7.5
    assert "# ESPHome-style filter chain" in config_file.read_text()


@pytest.mark.parametrize("key,value", [
    ("camera.fps", "fast"),
    ("rules.bin_full.clear_pct", "99"),
    ("zones.bins[0].polygon", "[[0, 0], [1, 1]]"),
    ("camera.nonsense", "1"),
    ("uplink.http.token_file", "/nonexistent/token"),
    ("sensors[7].id", "x"),
    ("zones.floor", "[[0, 0], [9999, 0], [0, 10]]"),
])
def test_invalid_set_leaves_the_file_untouched(config_file, capsys, key, value):
    before = _sha(config_file)
    code, _, err = run(capsys, "--config", str(config_file), "config", "set", key, value)
    assert code == 2
    assert err.strip(), "the refusal must say why"
    assert _sha(config_file) == before
    assert list_backups(config_file) == []


def test_backups_are_kept_and_capped(config_file, capsys):
    for value in range(11, 11 + KEEP_BACKUPS + 3):
        assert run(capsys, "--config", str(config_file), "config", "set", "camera.fps", str(value))[0] == 0
    assert len(list_backups(config_file)) == KEEP_BACKUPS
    # backup 1 is the file as it was before the last change
    assert "fps: 22" in list_backups(config_file)[0].read_text()


def test_restore_puts_back_the_previous_file(config_file, capsys, default_config_text):
    run(capsys, "--config", str(config_file), "config", "set", "camera.fps", "5")
    code, out, _ = run(capsys, "--config", str(config_file), "config", "restore")
    assert code == 0 and "restored" in out
    assert config_file.read_text() == default_config_text
    # the restore itself made a backup, so it can be undone too
    assert run(capsys, "--config", str(config_file), "config", "restore")[0] == 0
    assert load_file(config_file).camera.fps == 5


def test_restore_refuses_a_backup_that_no_longer_validates(config_file, capsys):
    run(capsys, "--config", str(config_file), "config", "backup")
    newest = list_backups(config_file)[0]
    newest.write_text(newest.read_text().replace("fps: 10", "fps: -3"))
    before = _sha(config_file)
    assert run(capsys, "--config", str(config_file), "config", "restore", "1")[0] == 2
    assert _sha(config_file) == before


def test_unset_returns_a_key_to_its_default(config_file, capsys):
    run(capsys, "--config", str(config_file), "config", "set", "voice.rate", "200")
    assert run(capsys, "--config", str(config_file), "config", "unset", "voice.rate")[0] == 0
    assert "rate:" not in config_file.read_text().split("voice:")[1].split("actuators:")[0]
    assert load_file(config_file).voice.rate == 175
    assert run(capsys, "--config", str(config_file), "config", "unset", "voice.rate")[0] == 2


def test_get_show_diff_schema(config_file, capsys):
    code, out, _ = run(capsys, "--config", str(config_file), "config", "get", "rules.bag_outside_bin.incident_after_s")
    assert (code, out.strip()) == (0, "60.0")
    code, out, _ = run(capsys, "--config", str(config_file), "config", "get", "zones.bins[1].id")
    assert (code, out.strip()) == (0, "bin-2")
    assert run(capsys, "--config", str(config_file), "config", "get", "camera.nope")[0] == 2

    code, out, _ = run(capsys, "--config", str(config_file), "config", "show", "--json")
    assert code == 0 and json.loads(out)["device"]["timezone"] == "Asia/Shanghai"

    assert run(capsys, "--config", str(config_file), "config", "diff")[1].startswith("no differences")
    run(capsys, "--config", str(config_file), "config", "set", "camera.fps", "5")
    code, out, _ = run(capsys, "--config", str(config_file), "config", "diff", "--json")
    assert json.loads(out) == [{"key": "camera.fps", "default": 10.0, "value": 5.0}]

    code, out, _ = run(capsys, "config", "schema")
    schema = json.loads(out)
    assert code == 0 and schema["additionalProperties"] is False and "uplink" in schema["properties"]


def test_config_path_precedence(tmp_path, monkeypatch, capsys, config_file):
    monkeypatch.setenv("GARBAGE_EDGE_CONFIG", str(config_file))
    assert str(config_file) in run(capsys, "config", "path")[1]
    other = tmp_path / "other.yaml"
    assert str(other) in run(capsys, "--config", str(other), "config", "path")[1]
    code, _, err = run(capsys, "--config", str(other), "config", "show")
    assert code == 2 and "no such config file" in err


def test_every_command_has_help_and_version():
    parser = build_parser()
    for action in parser._subparsers._group_actions:
        for name, sub in action.choices.items():
            assert sub.format_help().startswith("usage: gedge " + name), name
    run_ = subprocess.run([sys.executable, "-m", "edge", "--version"], capture_output=True, text=True)
    assert run_.returncode == 0 and run_.stdout.startswith("garbage-edge ")


def test_usage_errors_exit_2(capsys):
    with pytest.raises(SystemExit) as info:
        main(["config", "frobnicate"])
    assert info.value.code == 2


def test_shell_completion_script(capsys):
    code, out, _ = run(capsys, "completion", "bash")
    assert code == 0 and "complete" in out and "gedge" in out


def test_every_leaf_command_takes_config_and_help():
    """`--config PATH` and `--help` on every command, down to `gedge config set` and `gedge relay on`."""
    import argparse

    def leaves(parser, path):
        subs = [a for a in parser._actions if isinstance(a, argparse._SubParsersAction)]
        if not subs:
            yield " ".join(path), {o for a in parser._actions for o in a.option_strings}
        for action in subs:
            for name, sub in action.choices.items():
                yield from leaves(sub, path + [name])

    found = dict(leaves(build_parser(), ["gedge"]))
    assert "gedge config set" in found and len(found) > 20
    missing = [cmd for cmd, opts in found.items() if not {"--config", "-h", "--help"} <= opts]
    assert missing == []


def test_a_closed_pipe_is_not_a_traceback():
    """`gedge config schema | head`: the reader leaving early ends the command quietly."""
    proc = subprocess.Popen([sys.executable, "-m", "edge", "config", "schema"],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    proc.stdout.close()  # before the command has written anything: every write fails with EPIPE
    err = proc.stderr.read().decode()
    assert proc.wait(30) == 1
    assert "Traceback" not in err and "BrokenPipeError" not in err, err


def test_a_file_that_cannot_be_written_is_one_line_and_exit_1(config_file, capsys, monkeypatch):
    """Not root on /etc/garbage-edge: a clear line, no traceback, the file as it was."""
    from edge.config import edit

    def refuse(*_args):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(edit, "atomic_write", refuse)
    before = _sha(config_file)
    code, _, err = run(capsys, "--config", str(config_file), "config", "set", "camera.fps", "5")
    assert code == 1 and err.strip() == f"{config_file}: cannot write: Permission denied (run with sudo?)"
    assert run(capsys, "--config", str(config_file), "config", "unset", "camera.fps")[0] == 1
    assert _sha(config_file) == before
