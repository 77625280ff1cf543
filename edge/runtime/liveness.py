"""Which loops are alive: each loop beats; the watchdog is fed only while every required loop beat recently."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Liveness:
    max_age_s: float
    required: tuple[str, ...]
    _last: dict[str, float] = field(default_factory=dict)

    def beat(self, loop: str, now: float) -> None:
        self._last[loop] = now

    def stale(self, now: float) -> list[str]:
        """Required loops that have not beaten within max_age_s (never-started loops count as stale)."""
        return [name for name in self.required if now - self._last.get(name, float("-inf")) > self.max_age_s]
