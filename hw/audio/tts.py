"""Text to speech: render text to WAV files with pyttsx3 (espeak-ng), cached on disk.

Each text is rendered in a child process (`tts_child.py`) with a timeout, because pyttsx3
can hang in `runAndWait`. The child falls back to the `espeak-ng` command line when pyttsx3
is missing or fails. Files are cached under `cache_dir` by a hash of (text, voice, rate), so
a prompt is rendered once and a changed prompt text is simply a new file; `prune()` removes
what is no longer wanted. Volume-specific copies (`wav_for`) are scaled samples of the base
rendering, made once and kept beside it.

Interface used by the voice worker:
    r = Renderer(cache_dir, timeout_s=30)
    r.render(text, voice, rate) -> Rendered     # base WAV, rendered or from cache
    r.wav_for(text, voice, rate, volume) -> Path  # WAV at that volume, ready for the player
    r.stats() -> dict                             # renders, cache_hits, failures, last_error
"""
from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import sys
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

from .proc import run_killable
from .wav import wav_info, write_scaled

log = logging.getLogger(__name__)

CHILD = Path(__file__).with_name("tts_child.py")
_FORMAT = 1  # bump to invalidate every cached file when rendering changes


class RenderError(RuntimeError):
    """A text could not be rendered (no TTS engine, timeout, bad voice, …)."""


@dataclass(frozen=True)
class Rendered:
    path: Path
    voice: str  # the voice the engine actually used
    engine: str  # "pyttsx3" or "espeak-ng"
    duration_s: float
    cached: bool


def cache_key(text: str, voice: str, rate: int) -> str:
    blob = json.dumps([_FORMAT, text, voice, int(rate)], ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(blob).hexdigest()[:24]


def tts_available() -> bool:
    """Whether any engine this renderer drives is installed."""
    return bool(shutil.which("espeak-ng") or shutil.which("espeak"))


class Renderer:
    def __init__(
        self,
        cache_dir: str | Path,
        timeout_s: float = 30.0,
        engine: str = "auto",
        child_cmd: list[str] | None = None,
    ):
        self.cache_dir = Path(cache_dir)
        self.timeout_s = timeout_s
        self.engine = engine
        # the command that renders; tests swap in a stand-in (e.g. one that hangs)
        self.child_cmd = child_cmd or [sys.executable, str(CHILD)]
        self._lock = threading.Lock()  # one rendering at a time: the box has few cores
        self._stats_lock = threading.Lock()
        self._stats = {"renders": 0, "cache_hits": 0, "failures": 0, "timeouts": 0, "last_error": None}

    def stats(self) -> dict:
        with self._stats_lock:
            return dict(self._stats)

    def _paths(self, key: str) -> tuple[Path, Path]:
        return self.cache_dir / f"{key}.wav", self.cache_dir / f"{key}.json"

    def render(self, text: str, voice: str, rate: int) -> Rendered:
        if not text.strip():
            raise RenderError("nothing to say: empty text")
        key = cache_key(text, voice, rate)
        wav, meta = self._paths(key)
        # cached files are complete (written by rename), so a hit never waits behind a rendering
        hit = self._cached(wav, meta)
        if hit is None:
            with self._lock:
                hit = self._cached(wav, meta)  # another thread may have just rendered it
                if hit is None:
                    try:
                        result = self._render_child(text, voice, rate, wav, meta)
                    except RenderError as e:
                        self._bump("failures", last_error=str(e))
                        raise
                    self._bump("renders")
                    return result
        self._bump("cache_hits")
        return hit

    def _bump(self, counter: str, last_error: str | None = None) -> None:
        with self._stats_lock:
            self._stats[counter] += 1
            if last_error is not None:
                self._stats["last_error"] = last_error

    def wav_for(self, text: str, voice: str, rate: int, volume: int) -> Path:
        """The WAV for this text at `volume` percent, rendering and scaling as needed."""
        base = self.render(text, voice, rate)
        volume = int(min(max(volume, 0), 100))
        scaled = base.path.with_name(f"{base.path.stem}-v{volume:03d}.wav")
        if not scaled.is_file():
            write_scaled(base.path, scaled, volume)
        return scaled

    def prune(self, keep: set[str]) -> int:
        """Delete cached files whose key is not in `keep`; returns how many went."""
        removed = 0
        if not self.cache_dir.is_dir():
            return 0
        with self._lock:
            for p in self.cache_dir.iterdir():
                # dot files are writes in progress (renamed into place when complete)
                if not p.name.startswith(".") and p.suffix in (".wav", ".json") and p.stem.split("-v")[0] not in keep:
                    p.unlink(missing_ok=True)
                    removed += 1
        return removed

    def _cached(self, wav: Path, meta: Path) -> Rendered | None:
        if not (wav.is_file() and meta.is_file()):
            return None
        try:
            m = json.loads(meta.read_text(encoding="utf-8"))
            return Rendered(wav, m["voice"], m["engine"], float(m["duration_s"]), True)
        except (OSError, ValueError, KeyError):
            return None  # a damaged entry is rendered again

    def _render_child(self, text: str, voice: str, rate: int, wav: Path, meta: Path) -> Rendered:
        try:
            self.cache_dir.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise RenderError(f"cannot create the voice cache {self.cache_dir}: {e}") from None
        fd, tmp = tempfile.mkstemp(prefix=".render-", suffix=".wav", dir=self.cache_dir)
        os.close(fd)
        cmd = [*self.child_cmd, "--voice", voice, "--rate", str(int(rate)), "--out", tmp,
               "--engine", self.engine, "--", text]
        try:
            try:
                res = run_killable(cmd, self.timeout_s)
            except OSError as e:
                raise RenderError(f"cannot start the TTS renderer: {e}") from None
            if res.timed_out:
                self._bump("timeouts")
                raise RenderError(f"TTS rendering took longer than {self.timeout_s:g} s and was killed")
            if res.returncode != 0:
                why = (res.stderr.strip().splitlines() or [f"exit code {res.returncode}"])[-1]
                raise RenderError(f"TTS rendering failed: {why}")
            info = _parse_result(res.stdout)
            try:
                duration = wav_info(tmp).duration_s
            except Exception as e:  # wave.Error, EOFError…
                raise RenderError(f"TTS engine wrote an unreadable WAV: {e}") from None
            os.replace(tmp, wav)
        finally:
            Path(tmp).unlink(missing_ok=True)
        if info["voice"].lower() != voice.lower():
            log.warning("TTS voice %r was asked for but %r was used (is the voice installed? `espeak-ng --voices`)",
                        voice, info["voice"])
        tmp_meta = meta.with_name(f".{meta.name}.tmp")
        tmp_meta.write_text(json.dumps({"text": text, "voice": info["voice"], "engine": info["engine"],
                                        "rate": rate, "duration_s": duration}, ensure_ascii=False), encoding="utf-8")
        os.replace(tmp_meta, meta)
        log.info("rendered %.1f s of speech (%s, voice %s) to %s", duration, info["engine"], info["voice"], wav.name)
        return Rendered(wav, info["voice"], info["engine"], duration, False)


def _parse_result(stdout: str) -> dict:
    for line in reversed(stdout.splitlines()):
        if line.startswith("RESULT "):
            try:
                data = json.loads(line[7:])
                return {"engine": str(data["engine"]), "voice": str(data["voice"])}
            except (ValueError, KeyError):
                break
    raise RenderError("TTS renderer gave no result line")
