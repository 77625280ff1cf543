"""Render one text to a WAV file; run as a child process by `hw.audio.tts.Renderer`.

pyttsx3 can hang in `runAndWait` on some systems, so the parent runs this script with a
timeout and kills it when it does. The last line on stdout is `RESULT {json}` naming the
engine and the voice actually used. Exit codes: 0 ok, 2 usage, 3 rendering failed.

Usage: python tts_child.py --voice sit/cmn --rate 150 --out FILE.wav [--engine auto|pyttsx3|espeak-ng] TEXT
"""
from __future__ import annotations

import argparse
import array
import json
import math
import os
import shutil
import subprocess
import sys
import tempfile
import wave

PYTTSX3_TRIES = 2


def render_pyttsx3(text: str, voice: str, rate: int, out: str) -> str:
    import pyttsx3
    from pyttsx3.drivers import _espeak

    engine = pyttsx3.init("espeak")
    errors: list[BaseException] = []
    engine.connect("error", lambda **kw: errors.append(kw.get("exception")))
    engine.setProperty("voice", voice)
    engine.setProperty("rate", rate)
    engine.save_to_file(text, out)
    engine.runAndWait()
    # pyttsx3's espeak driver leaves its loop as soon as synthesis has *started* (espeak
    # renders on its own thread in retrieval mode); without this wait a long prompt is
    # cut off and the file never written.
    sync = getattr(_espeak, "Synchronize", None)
    if sync is not None:
        sync()
    chosen = engine.getProperty("voice") or ""
    if errors and errors[0] is not None:
        print(f"pyttsx3 reported: {errors[0]}", file=sys.stderr)
    return str(chosen)


def ends_in_pause(path: str, seconds: float = 0.2, max_rms: float = 0.01) -> bool:
    """espeak ends every rendering with a pause (ENDPAUSE): a file whose last `seconds` are not
    quiet lost its end."""
    with wave.open(path, "rb") as w:
        if w.getsampwidth() != 2:
            return True  # not what espeak writes: nothing to judge
        n = int(seconds * w.getframerate()) * w.getnchannels()
        w.setpos(max(0, w.getnframes() - n // w.getnchannels()))
        tail = array.array("h", w.readframes(n))
    if not tail:
        return False
    return math.sqrt(sum(s * s for s in tail) / len(tail)) / 32768.0 < max_rms


def reference_frames(text: str, voice: str, rate: int) -> int | None:
    """Frames in the espeak-ng command line's rendering of the same text (None without it).
    pyttsx3 drives the same library with the same voice and rate, so a whole rendering is as long."""
    try:
        with tempfile.TemporaryDirectory() as tmp:
            ref = os.path.join(tmp, "reference.wav")
            render_espeak_cli(text, voice, rate, ref)
            with wave.open(ref, "rb") as w:
                return w.getnframes()
    except (OSError, RuntimeError, subprocess.CalledProcessError, wave.Error):
        return None


def as_long_as(path: str, frames: int | None, slack_s: float = 0.05) -> bool:
    if frames is None:
        return True  # no reference to judge by
    with wave.open(path, "rb") as w:
        return w.getnframes() >= frames - int(slack_s * w.getframerate())


def render_pyttsx3_whole(text: str, voice: str, rate: int, out: str) -> str:
    """pyttsx3, checked: under load its espeak driver has been seen to lose the end of a long
    prompt (the file stops mid-word). The lost end can be a buffer of zeros, which looks like
    espeak's closing pause, so the length is checked against espeak-ng's own rendering too.
    Such a rendering is done again before giving up."""
    expected = reference_frames(text, voice, rate)
    for attempt in range(1, PYTTSX3_TRIES + 1):
        chosen = render_pyttsx3(text, voice, rate, out)
        if os.path.exists(out) and os.path.getsize(out) > 44 and ends_in_pause(out) and as_long_as(out, expected):
            return chosen
        print(f"pyttsx3 rendering {attempt} was cut short", file=sys.stderr)
    raise RuntimeError(f"pyttsx3 cut the rendering short {PYTTSX3_TRIES} times")


def render_espeak_cli(text: str, voice: str, rate: int, out: str) -> str:
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise RuntimeError("neither espeak-ng nor espeak is installed")
    subprocess.run([exe, "-v", voice, "-s", str(rate), "-w", out, "--", text], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return voice


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser()
    p.add_argument("--voice", required=True)
    p.add_argument("--rate", type=int, default=150)
    p.add_argument("--out", required=True)
    p.add_argument("--engine", choices=["auto", "pyttsx3", "espeak-ng"], default="auto")
    p.add_argument("text")
    a = p.parse_args(argv)
    engines = ["pyttsx3", "espeak-ng"] if a.engine == "auto" else [a.engine]
    problems = []
    for name in engines:
        try:
            if os.path.exists(a.out):
                os.unlink(a.out)
            render = render_pyttsx3_whole if name == "pyttsx3" else render_espeak_cli
            chosen = render(a.text, a.voice, a.rate, a.out)
            if not os.path.exists(a.out) or os.path.getsize(a.out) <= 44:
                raise RuntimeError("no audio was written")
            print("RESULT " + json.dumps({"engine": name, "voice": chosen}), flush=True)
            return 0
        except Exception as e:  # report and try the next engine
            problems.append(f"{name}: {e}")
    print("; ".join(problems), file=sys.stderr)
    return 3


if __name__ == "__main__":
    sys.exit(main())
