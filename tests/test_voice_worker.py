"""The voice worker and the player: real child processes (a fake player script, real aplay),
timeouts that kill, failures counted in health, a bounded queue that never blocks."""
from __future__ import annotations

import json
import logging
import os
import shutil
import subprocess
import sys
import threading
import time
import wave
from pathlib import Path

import numpy as np
import pytest

from edge.config import Config
from edge.voice import PlayRequest, VoiceWorker, build_voice
from hw.audio import AplayPlayer, PlayResult, RenderError, SimPlayer
from hw.audio.wav import read_wav, rms

needs_aplay = pytest.mark.skipif(shutil.which("aplay") is None, reason="aplay (alsa-utils) is not installed")
needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")

# A player that records each call (argv, pid, time) and hangs on the calls listed in HANG_ON.
FAKE_PLAYER = r'''
import json, os, sys, time
log, hang_on = sys.argv[1], {int(x) for x in sys.argv[2].split(",") if x.isdigit()}
n = sum(1 for _ in open(log)) if os.path.exists(log) else 0
with open(log, "a") as f:
    f.write(json.dumps({"n": n, "argv": sys.argv[3:], "pid": os.getpid(), "t": time.time()}) + "\n")
if n in hang_on:
    time.sleep(60)
'''


def tone_wav(path: Path, seconds: float = 0.2, amp: float = 0.5) -> Path:
    t = np.arange(int(16000 * seconds)) / 16000
    with wave.open(str(path), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(2 * np.pi * 440 * t) * amp * 32767).astype("<i2").tobytes())
    return path


class FakeRenderer:
    """Stands in for the TTS renderer: a short tone per text, or a RenderError."""

    def __init__(self, folder: Path, fail: bool = False):
        self.folder, self.fail, self.calls = folder, fail, []

    def wav_for(self, text, voice, rate, volume):
        self.calls.append((text, voice, rate, volume))
        if self.fail:
            raise RenderError("neither espeak-ng nor espeak is installed")
        return tone_wav(self.folder / f"tone-{abs(hash(text)) % 10**8}-{volume}.wav")


def request(prompt="bag_on_floor", zone="floor") -> PlayRequest:
    return PlayRequest(prompt=prompt, text=f"text of {prompt} {zone}", lang="zh", voice="sit/cmn", rate=175,
                       volume=80, zone=zone, incident_id=None, due_at=time.time())


def fake_player(tmp_path: Path, hang_on: str = "") -> tuple[AplayPlayer, Path]:
    script = tmp_path / "player.py"
    script.write_text(FAKE_PLAYER)
    log = tmp_path / "calls.jsonl"
    return AplayPlayer(f"{sys.executable} {script} {log} {hang_on or '-'}"), log


def calls(log: Path) -> list[dict]:
    return [json.loads(line) for line in log.read_text().splitlines()] if log.exists() else []


@pytest.fixture
def worker_factory(tmp_path):
    made = []

    def make(player, renderer=None, **kw):
        w = VoiceWorker(renderer or FakeRenderer(tmp_path), player, **kw)
        w.start()
        made.append(w)
        return w

    yield make
    for w in made:
        w.stop(timeout_s=5)


def test_hung_player_is_killed_and_the_next_prompt_still_plays(tmp_path, worker_factory):
    player, log = fake_player(tmp_path, hang_on="0")
    # 2 s: the stand-in player is a Python script, whose start alone can take most of a second
    # on a loaded 2-core box; a shorter timeout would also kill the player that does not hang
    w = worker_factory(player, play_timeout_s=2.0)
    t0 = time.monotonic()
    assert w.say(request("bag_on_floor"))
    assert w.say(request("bin_full", "bin-1"))
    assert w.wait_idle(15)
    took = time.monotonic() - t0
    h = w.health()
    assert (h["played"], h["failed"], h["killed"]) == (1, 1, 1), h
    assert "still running after 2 s" in h["last_error"]
    assert h["last_played"] == "bin_full"
    rows = calls(log)
    assert [r["n"] for r in rows] == [0, 1]
    assert rows[1]["argv"][-1].endswith(".wav")
    # the hung one was given its 2 s (counted from its start, before it wrote its line), then the next began
    assert 1.0 <= rows[1]["t"] - rows[0]["t"] < 6
    assert took < 10
    with pytest.raises(ProcessLookupError):  # the hung player is gone, not left behind
        os.kill(rows[0]["pid"], 0)


def test_player_gets_the_alsa_device(tmp_path, worker_factory):
    script = tmp_path / "player.py"
    script.write_text(FAKE_PLAYER)
    log = tmp_path / "calls.jsonl"
    w = worker_factory(AplayPlayer(f"{sys.executable} {script} {log} -", device="plughw:1,0"))
    w.say(request())
    assert w.wait_idle(10)
    assert calls(log)[0]["argv"][:2] == ["-D", "plughw:1,0"]


@needs_aplay
def test_real_aplay_without_a_sound_card_fails_counted_not_crashing(tmp_path, worker_factory, caplog):
    # hw:99,0 exists nowhere: the same outcome as a box whose speaker/card is missing
    w = worker_factory(AplayPlayer("aplay", device="hw:99,0"), play_timeout_s=10)
    with caplog.at_level(logging.WARNING, logger="edge.voice.worker"):
        for zone in ("a", "b", "c"):
            w.say(request(zone=zone))
            assert w.wait_idle(10)
    h = w.health()
    assert h["failed"] == 3 and h["played"] == 0 and h["killed"] == 0 and h["running"]
    assert "aplay" in h["last_error"] and "failed" in h["last_error"]
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1, "the same failure is logged once, not on every reminder"


@needs_aplay
def test_real_aplay_default_device_here(tmp_path, worker_factory):
    """Whatever this machine has: played, or failed and counted. Never an exception."""
    w = worker_factory(AplayPlayer("aplay"), play_timeout_s=10)
    w.say(request())
    assert w.wait_idle(15)
    h = w.health()
    assert h["played"] + h["failed"] == 1 and h["running"]


def test_missing_player_program(tmp_path, worker_factory):
    w = worker_factory(AplayPlayer(str(tmp_path / "no-aplay-here")))
    w.say(request())
    assert w.wait_idle(5)
    h = w.health()
    assert h["failed"] == 1 and "cannot start player" in h["last_error"]


def test_render_failure_is_counted_and_the_worker_carries_on(tmp_path, worker_factory):
    renderer = FakeRenderer(tmp_path, fail=True)
    player = SimPlayer()
    w = worker_factory(player, renderer)
    w.say(request())
    assert w.wait_idle(5)
    renderer.fail = False
    w.say(request("bin_full"))
    assert w.wait_idle(5)
    h = w.health()
    assert (h["render_failed"], h["failed"], h["played"]) == (1, 1, 1)
    assert len(player.played) == 1


class BlockingPlayer:
    def __init__(self):
        self.release = threading.Event()
        self.started = threading.Event()
        self.played = []

    def play(self, wav, timeout_s, on_started=None):
        if on_started:
            on_started()
        self.started.set()
        self.release.wait(10)
        self.played.append(wav)
        return PlayResult(True)


def test_full_queue_drops_and_say_never_blocks(tmp_path, worker_factory):
    player = BlockingPlayer()
    w = worker_factory(player, queue_size=2)
    w.say(request(zone="0"))
    assert player.started.wait(5)  # the worker is busy playing
    t0 = time.perf_counter()
    results = [w.say(request(zone=str(i))) for i in range(1, 6)]
    assert time.perf_counter() - t0 < 0.5  # blocking would mean waiting on the stuck player for good
    assert results == [True, True, False, False, False]
    assert w.health()["dropped"] == 3 and w.health()["queued"] == 2
    player.release.set()
    assert w.wait_idle(5)
    assert w.health()["played"] == 3
    assert w.say(None) is False


def test_stale_reminder_is_dropped(tmp_path, worker_factory):
    now = [0.0]
    player = BlockingPlayer()
    w = worker_factory(player, max_delay_s=10, clock=lambda: now[0])
    w.say(request(zone="first"))
    assert player.started.wait(5)
    w.say(request(zone="late"))
    now[0] = 30.0  # the speaker was busy for half a minute
    player.release.set()
    assert w.wait_idle(5)
    h = w.health()
    assert h["stale"] == 1 and h["played"] == 1 and "stale" in h["last_error"]


def test_prerender_renders_every_job_and_prunes(tmp_path, worker_factory):
    class R(FakeRenderer):
        pruned = None

        def prune(self, keep):
            R.pruned = keep
            return 0

    renderer = R(tmp_path)
    w = worker_factory(SimPlayer(), renderer)
    jobs = [("a", "sit/cmn", 175, 80), ("a", "sit/cmn", 175, 60), ("b", "sit/cmn", 175, 80)]
    w.prerender(jobs).join(10)
    assert renderer.calls == jobs
    assert w.health()["prerendered"] == 3 and len(R.pruned) == 2


@needs_aplay
@needs_espeak
def test_end_to_end_real_espeak_real_aplay_into_a_file(tmp_path):
    """Policy -> worker -> pre-rendered WAV -> real aplay writing to ALSA's `file` plugin."""
    out = tmp_path / "speaker.wav"
    cfg = Config.model_validate({
        "voice": {"alsa_device": f"file:FILE={out},FORMAT=wav", "quiet_hours": None, "volume_schedule": [],
                  "volume": 100},
        "storage": {"cache_dir": str(tmp_path / "cache")},
        "schedule": {"opening_hours": []},
    })
    started = []
    stack = build_voice(cfg, on_started=lambda req, latency: started.append(latency))
    stack.worker.start()
    try:
        stack.worker.prerender(stack.policy.render_jobs()).join(60)
        assert stack.worker.health()["prerendered"] == len(stack.policy.render_jobs())
        req = stack.policy.decide("bin_full", "bin-1", None, time.time())
        assert stack.worker.say(req)
        assert stack.worker.wait_idle(30)
    finally:
        stack.worker.stop()
    h = stack.worker.health()
    assert h["played"] == 1, h
    assert started and started[0] < 1.0  # pre-rendered: the player starts within a second
    played, info = read_wav(out)
    expected, _ = read_wav(stack.renderer.wav_for(req.text, req.voice, req.rate, 100))
    assert info.duration_s > 0.5 and rms(played) > 0.02
    assert rms(played) == pytest.approx(rms(expected), rel=0.05)


@needs_aplay
def test_aplay_file_device_really_receives_the_scaled_samples(tmp_path):
    src = tone_wav(tmp_path / "src.wav", seconds=0.5, amp=0.5)
    out = tmp_path / "out.wav"
    res = AplayPlayer("aplay", device=f"file:FILE={out},FORMAT=wav").play(src, 10)
    assert res.ok, res.error
    assert rms(read_wav(out)[0]) == pytest.approx(rms(read_wav(src)[0]), rel=0.02)


def test_process_group_is_killed(tmp_path):
    """A player that spawns its own child: both go at the timeout."""
    script = tmp_path / "p.sh"
    pidfile = tmp_path / "child.pid"
    script.write_text(f"#!/bin/sh\nsleep 60 &\necho $! > {pidfile}\nwait\n")
    script.chmod(0o755)
    res = AplayPlayer(str(script)).play(tmp_path / "x.wav", 0.5)
    assert res.timed_out and not res.ok
    pid = int(pidfile.read_text())
    time.sleep(0.1)
    out = subprocess.run(["ps", "-o", "stat=", "-p", str(pid)], capture_output=True, text=True).stdout.strip()
    assert out == "" or out.startswith("Z")
