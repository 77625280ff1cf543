"""Small WAV helpers (16-bit PCM): read, measure, and write a volume-scaled copy.

Volume is applied by scaling the samples of a copy of the prompt rather than through the
sound card's mixer: it works on every ALSA device (and on none, for tests), and the
pre-rendered copies make playback start at once.
"""
from __future__ import annotations

import os
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

# Loudness follows volume roughly as the square of the amplitude gain; a square law makes
# "60 %" sound like a clear step down from "80 %" without becoming inaudible.
_PEAK = 0.89  # normalise the loudest sample to about -1 dBFS before applying the volume


@dataclass(frozen=True)
class WavInfo:
    channels: int
    rate: int
    frames: int
    sampwidth: int

    @property
    def duration_s(self) -> float:
        return self.frames / self.rate if self.rate else 0.0


def read_wav(path: str | Path) -> tuple[np.ndarray, WavInfo]:
    """Samples as float32 in [-1, 1] (interleaved channels flattened) and the file's format."""
    with wave.open(str(path), "rb") as w:
        info = WavInfo(w.getnchannels(), w.getframerate(), w.getnframes(), w.getsampwidth())
        raw = w.readframes(info.frames)
    if info.sampwidth != 2:
        raise ValueError(f"{path}: only 16-bit PCM WAV is supported (sample width {info.sampwidth})")
    samples = np.frombuffer(raw, dtype="<i2").astype(np.float32) / 32768.0
    return samples, info


def wav_info(path: str | Path) -> WavInfo:
    with wave.open(str(path), "rb") as w:
        return WavInfo(w.getnchannels(), w.getframerate(), w.getnframes(), w.getsampwidth())


def rms(samples: np.ndarray) -> float:
    """Root mean square of float samples (0 for an empty array)."""
    if samples.size == 0:
        return 0.0
    return float(np.sqrt(np.mean(np.square(samples.astype(np.float64)))))


def volume_gain(volume_pct: int) -> float:
    """Amplitude gain for a volume in percent (square law, 0 = silent, 100 = unchanged)."""
    v = min(max(volume_pct, 0), 100) / 100.0
    return v * v


def write_wav(path: str | Path, samples: np.ndarray, info: WavInfo) -> None:
    """Write float samples as 16-bit PCM, atomically (temp file + rename)."""
    path = Path(path)
    pcm = np.clip(np.round(samples * 32767.0), -32768, 32767).astype("<i2")
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", suffix=".wav", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f, wave.open(f, "wb") as w:
            w.setnchannels(info.channels)
            w.setsampwidth(2)
            w.setframerate(info.rate)
            w.writeframes(pcm.tobytes())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_scaled(src: str | Path, dst: str | Path, volume_pct: int) -> None:
    """Copy `src` to `dst` normalised to a fixed peak, then scaled to `volume_pct`."""
    samples, info = read_wav(src)
    peak = float(np.max(np.abs(samples))) if samples.size else 0.0
    norm = _PEAK / peak if peak > 0 else 1.0
    write_wav(dst, samples * (norm * volume_gain(volume_pct)), info)
