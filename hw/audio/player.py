"""Play a WAV file through an external player (`aplay` by default), with a hard timeout.

The player runs as a child process; a player still running after `timeout_s` is killed
(with anything it started), so a wedged sound card never wedges the agent. Failures are
returned, never raised: the caller counts them.

`SimPlayer` is the simulated twin for a box without a speaker (demo, laptop): it records
what would have been played.

    p = AplayPlayer(player="aplay", device="plughw:1,0")
    result = p.play(Path("x.wav"), timeout_s=15, on_started=callback)
"""
from __future__ import annotations

import logging
import shlex
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from .proc import run_killable

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class PlayResult:
    ok: bool
    error: str | None = None  # one line, for logs and health
    timed_out: bool = False
    duration_s: float = 0.0  # how long the player ran


class Player(Protocol):
    def play(self, wav: Path, timeout_s: float, on_started: Callable[[], None] | None = None) -> PlayResult: ...


class AplayPlayer:
    """`PLAYER [-D DEVICE] FILE.wav`; PLAYER may carry its own arguments (e.g. "aplay -q")."""

    def __init__(self, player: str = "aplay", device: str | None = None):
        self.argv = shlex.split(player)
        if not self.argv:
            raise ValueError("empty player command")
        self.device = device

    def command(self, wav: Path) -> list[str]:
        cmd = list(self.argv)
        if self.device:
            cmd += ["-D", self.device]
        return cmd + [str(wav)]

    def play(self, wav: Path, timeout_s: float, on_started: Callable[[], None] | None = None) -> PlayResult:
        t0 = time.monotonic()
        try:
            res = run_killable(self.command(wav), timeout_s, on_started=on_started)
        except OSError as e:
            return PlayResult(False, f"cannot start player {self.argv[0]!r}: {e.strerror or e}")
        took = time.monotonic() - t0
        if res.timed_out:
            return PlayResult(False, f"player {self.argv[0]!r} still running after {timeout_s:g} s: killed", True, took)
        if res.returncode != 0:
            lines = [ln for ln in res.stderr.strip().splitlines() if ln.strip()]
            why = lines[-1] if lines else f"exit code {res.returncode}"
            return PlayResult(False, f"player {self.argv[0]!r} failed ({res.returncode}): {why}", False, took)
        return PlayResult(True, None, False, took)


class SimPlayer:
    """Simulated speaker: remembers the files it was asked to play."""

    def __init__(self) -> None:
        self.played: list[Path] = []

    def play(self, wav: Path, timeout_s: float, on_started: Callable[[], None] | None = None) -> PlayResult:
        if on_started is not None:
            on_started()
        self.played.append(Path(wav))
        log.info("(simulated speaker) playing %s", Path(wav).name)
        return PlayResult(True)
