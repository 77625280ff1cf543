"""Real text-to-speech: pyttsx3 driving espeak-ng in a child process, cached by (text, voice, rate)."""
from __future__ import annotations

import shutil
import sys
import wave

import numpy as np
import pytest

from edge.config import Config
from edge.voice import PromptCatalogue, VoicePolicy
from hw.audio import Renderer, RenderError, cache_key
from hw.audio.wav import read_wav, rms, write_scaled

needs_espeak = pytest.mark.skipif(shutil.which("espeak-ng") is None, reason="espeak-ng is not installed")
pyttsx3 = pytest.importorskip("pyttsx3", reason="pyttsx3 is not installed")

VOICES = {"zh": "sit/cmn", "en": "gmw/en-us"}


def _wav_stats(path):
    """Duration and RMS measured with the standard `wave` module and numpy."""
    with wave.open(str(path), "rb") as w:
        frames = w.getnframes()
        duration = frames / w.getframerate()
        samples = np.frombuffer(w.readframes(frames), dtype="<i2").astype(np.float64) / 32768.0
    return duration, float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    """Every shipped prompt in both languages, rendered once for the module."""
    renderer = Renderer(tmp_path_factory.mktemp("voice"), timeout_s=30, engine="pyttsx3")
    catalogue = PromptCatalogue()
    out = {}
    for lang, voice in VOICES.items():
        for name, text in catalogue.all_texts(lang).items():
            out[(lang, name)] = renderer.render(text, voice, 175)
    return renderer, out


@needs_espeak
def test_every_prompt_renders_to_audible_speech(rendered):
    _, results = rendered
    assert len(results) == 2 * len(PromptCatalogue().names()) >= 12
    for (lang, name), r in results.items():
        duration, level = _wav_stats(r.path)
        assert duration > 0.5, f"{lang}/{name} lasts only {duration:.2f} s"
        assert level > 0.02, f"{lang}/{name} is silent (RMS {level:.4f})"
        assert r.engine == "pyttsx3", f"{lang}/{name} fell back to {r.engine}"


@needs_espeak
def test_zh_prompts_use_the_mandarin_voice_and_en_the_english_one(rendered):
    _, results = rendered
    for (lang, name), r in results.items():
        # the voice reported by pyttsx3 *after* rendering, i.e. the one espeak-ng really used
        assert r.voice == VOICES[lang], f"{lang}/{name} was spoken with {r.voice}"


@needs_espeak
def test_long_prompt_is_rendered_to_the_end(rendered):
    """pyttsx3's espeak driver returns before espeak-ng has finished; the child waits for it.
    Without that the 10 s closed-room prompt is cut short (or never written)."""
    _, results = rendered
    short, _ = _wav_stats(results[("zh", "speaker_test")].path)
    long_, _ = _wav_stats(results[("zh", "outside_opening_hours")].path)
    assert long_ > 2 * short
    samples, info = read_wav(results[("zh", "outside_opening_hours")].path)
    tail = samples[-int(0.3 * info.rate):]
    assert rms(tail) < 0.01, "the rendering should end in the pause after the last word"


@needs_espeak
def test_cache_hit_and_rerender_on_change(tmp_path):
    r = Renderer(tmp_path, timeout_s=30)
    first = r.render("你好", "sit/cmn", 175)
    again = r.render("你好", "sit/cmn", 175)
    assert not first.cached and again.cached and again.path == first.path and again.voice == "sit/cmn"
    changed = r.render("你好，谢谢", "sit/cmn", 175)  # a changed prompt text is a new file
    faster = r.render("你好", "sit/cmn", 250)
    assert len({first.path, changed.path, faster.path}) == 3
    assert r.stats()["renders"] == 3 and r.stats()["cache_hits"] == 1
    assert r.prune({cache_key("你好", "sit/cmn", 175)}) == 4  # two stale WAVs and their metadata
    assert first.path.exists() and not changed.path.exists()


@needs_espeak
def test_volume_copies_are_scaled(tmp_path, rendered):
    renderer, results = rendered
    text = PromptCatalogue().text("bin_full", "zh")
    loud = renderer.wav_for(text, "sit/cmn", 175, 100)
    quiet = renderer.wav_for(text, "sit/cmn", 175, 50)
    silent = renderer.wav_for(text, "sit/cmn", 175, 0)
    r_loud, r_quiet = rms(read_wav(loud)[0]), rms(read_wav(quiet)[0])
    assert r_quiet / r_loud == pytest.approx(0.25, rel=0.02)  # square law: 50 % -> a quarter of the amplitude
    assert rms(read_wav(silent)[0]) == 0.0
    peak = float(np.max(np.abs(read_wav(loud)[0])))
    assert 0.85 < peak < 0.92  # normalised to about -1 dBFS


def test_render_child_that_hangs_is_killed(tmp_path):
    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\n")
    r = Renderer(tmp_path / "cache", timeout_s=0.5, child_cmd=[sys.executable, str(hang)])
    with pytest.raises(RenderError, match="longer than 0.5 s"):
        r.render("hello", "gmw/en-us", 175)
    assert r.stats()["timeouts"] == 1 and r.stats()["failures"] == 1


def test_missing_tts_program_is_a_render_error(tmp_path):
    r = Renderer(tmp_path, child_cmd=[str(tmp_path / "no-such-program")])
    with pytest.raises(RenderError, match="cannot start"):
        r.render("hello", "gmw/en-us", 175)


def test_bad_voice_is_reported(tmp_path):
    if shutil.which("espeak-ng") is None:
        pytest.skip("espeak-ng is not installed")
    r = Renderer(tmp_path, timeout_s=30, engine="espeak-ng")
    with pytest.raises(RenderError):
        r.render("hello", "no/such-voice", 175)


def test_prerender_jobs_cover_every_prompt_and_volume():
    policy = VoicePolicy(Config())
    jobs = policy.render_jobs()
    texts = {t for t, *_ in jobs}
    assert texts == set(PromptCatalogue().all_texts("zh").values())
    assert {v for *_, v in jobs} == {80, 60}
    assert {voice for _, voice, _, _ in jobs} == {"sit/cmn"}


def test_write_scaled_keeps_format(tmp_path):
    src = tmp_path / "a.wav"
    with wave.open(str(src), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.sin(np.arange(16000) / 5) * 8000).astype("<i2").tobytes())
    write_scaled(src, tmp_path / "b.wav", 80)
    s, info = read_wav(tmp_path / "b.wav")
    assert info.rate == 16000 and info.frames == 16000
    assert float(np.max(np.abs(s))) == pytest.approx(0.89 * 0.64, rel=0.01)


def test_cached_prompt_never_waits_behind_a_rendering(tmp_path):
    import json
    import threading
    import time

    hang = tmp_path / "hang.py"
    hang.write_text("import time\ntime.sleep(60)\n")
    r = Renderer(tmp_path / "cache", timeout_s=3, child_cmd=[sys.executable, str(hang)])
    (tmp_path / "cache").mkdir()
    key = cache_key("已缓存", "sit/cmn", 175)
    with wave.open(str(tmp_path / "cache" / f"{key}.wav"), "wb") as w:
        w.setnchannels(1)
        w.setsampwidth(2)
        w.setframerate(16000)
        w.writeframes((np.ones(8000) * 1000).astype("<i2").tobytes())
    (tmp_path / "cache" / f"{key}.json").write_text(json.dumps(
        {"voice": "sit/cmn", "engine": "pyttsx3", "duration_s": 0.5}))
    slow = threading.Thread(target=lambda: pytest.raises(RenderError, r.render, "新的提示", "sit/cmn", 175))
    slow.start()
    time.sleep(0.2)  # the hanging rendering now holds the render lock
    t0 = time.monotonic()
    hit = r.wav_for("已缓存", "sit/cmn", 175, 60)
    assert time.monotonic() - t0 < 1.5 and hit.exists()  # waiting on the lock would take ~2.8 s
    slow.join(10)
    assert r.stats()["timeouts"] == 1


def test_a_rendering_that_lost_its_end_is_recognised(tmp_path):
    """The child renders again when pyttsx3's file does not end in espeak's closing pause."""
    from hw.audio.tts_child import ends_in_pause

    rate = 22050
    t = np.arange(rate) / rate
    speech = 0.5 * np.sin(2 * np.pi * 220 * t)
    for name, samples, whole in [("whole", np.concatenate([speech, np.zeros(rate // 2)]), True),
                                 ("cut", speech, False)]:
        path = tmp_path / f"{name}.wav"
        with wave.open(str(path), "wb") as w:
            w.setnchannels(1)
            w.setsampwidth(2)
            w.setframerate(rate)
            w.writeframes((samples * 32767).astype("<i2").tobytes())
        assert ends_in_pause(str(path)) is whole, name
