"""`gedge speak`: list the prompts, write a prompt's WAV, play through the configured player."""
from __future__ import annotations

import json
import shutil
import sys

import pytest

from edge.cli import main
from hw.audio.wav import read_wav, rms

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

RECORDER = "import sys\nopen(sys.argv[1], 'a').write(' '.join(sys.argv[2:]) + '\\n')\n"


def write_config(tmp_path, player: str = "aplay", device: str | None = None) -> str:
    cfg = tmp_path / "config.yaml"
    dev = "null" if device is None else json.dumps(device)
    cfg.write_text(f"storage: {{cache_dir: {tmp_path / 'cache'}, state_dir: {tmp_path / 'state'}}}\n"
                   f"voice: {{player: {json.dumps(player)}, alsa_device: {dev}, play_timeout_s: 10}}\n",
                   encoding="utf-8")
    return str(cfg)


def test_list_shows_every_prompt(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["speak", "--list", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "bag_on_floor" in out and "居民同志，您的垃圾落地了，请正确投放。" in out
    assert "此桶已满，请投放到其他垃圾桶。" in out
    assert main(["speak", "--list", "--lang", "en", "--json", "--config", cfg]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    names = {r["prompt"] for r in rows}
    assert {"bag_on_floor", "bin_full", "outside_opening_hours", "odor_ventilation", "thank_you"} <= names
    assert all(r["lang"] == "en" for r in rows)


def test_usage_errors(tmp_path, capsys):
    cfg = write_config(tmp_path)
    assert main(["speak", "--config", cfg]) == 2
    assert main(["speak", "hello", "--prompt", "bin_full", "--config", cfg]) == 2
    assert main(["speak", "--prompt", "nope", "--config", cfg]) == 2
    assert "unknown prompt 'nope'" in capsys.readouterr().err
    assert main(["speak", "hi", "--volume", "150", "--config", cfg]) == 2


@needs_espeak
def test_out_writes_the_prompt_wav(tmp_path, capsys):
    cfg = write_config(tmp_path)
    out = tmp_path / "bag.wav"
    assert main(["speak", "--prompt", "bag_on_floor", "--out", str(out), "--volume", "100", "--json",
                 "--config", cfg]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["voice"] == "sit/cmn" and result["out"] == str(out) and result["volume"] == 100
    samples, info = read_wav(out)
    assert info.duration_s > 0.5 and rms(samples) > 0.05


@needs_espeak
def test_free_text_in_english(tmp_path, capsys):
    cfg = write_config(tmp_path)
    out = tmp_path / "hello.wav"
    assert main(["speak", "Hello, residents.", "--lang", "en", "--out", str(out), "--config", cfg]) == 0
    assert "voice gmw/en-us" in capsys.readouterr().out
    assert read_wav(out)[1].duration_s > 0.5


@needs_espeak
def test_plays_through_the_configured_player(tmp_path, capsys):
    script = tmp_path / "rec.py"
    script.write_text(RECORDER)
    log = tmp_path / "played.txt"
    cfg = write_config(tmp_path, player=f"{sys.executable} {script} {log}", device="plughw:1,0")
    assert main(["speak", "--prompt", "speaker_test", "--config", cfg]) == 0
    argv = log.read_text().split()
    assert argv[:2] == ["-D", "plughw:1,0"] and argv[2].endswith(".wav")
    assert "played" in capsys.readouterr().out


@needs_espeak
@pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay is not installed")
def test_no_sound_card_is_exit_1_with_the_reason(tmp_path, capsys):
    cfg = write_config(tmp_path, device="hw:99,0")
    assert main(["speak", "--prompt", "speaker_test", "--config", cfg]) == 1
    assert "aplay" in capsys.readouterr().err


@needs_espeak
def test_sim_player_for_a_box_without_a_speaker(tmp_path, capsys):
    cfg = write_config(tmp_path, player="sim")
    assert main(["speak", "--prompt", "thank_you", "--json", "--config", cfg]) == 0
    assert json.loads(capsys.readouterr().out)["played"] is True
