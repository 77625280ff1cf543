"""The deodorizer / fan relay: a pure switching policy and the controller that applies it.

Policy (pure; `now` is any monotonic clock in seconds, passed in):
- `on_while: odor_high`, `hold_s: 0`: on while an odor_high incident is open.
- `on_while: odor_high`, `hold_s > 0`: on for `hold_s` when odor_high opens (even if it closes
  sooner); while it stays open the relay cycles: `hold_s` on, at least `min_off_s` off, on again.
- `on_while: manual`: the agent never switches it (only `gedge relay on|off ID`).
- Once off, it stays off at least `min_off_s` (fan / compressor protection), also across a
  restart or config reload: the controller starts the lockout from the last recorded switch.

Controller (for the runtime; no threads, fast calls):
    relays = build_relays(config)                 # one RelayController per `actuators` entry
    for r in relays: r.update(now=time.monotonic(), odor_open=book.has_open("odor_high"))
    for r in relays: r.close()                    # at shutdown: switches off, releases the pin
Call `update()` on every incident change and every few seconds (or at `next_change_at()`).
Each switch is written to `<storage.state_dir>/relays/<id>.json`, which `gedge relay status`
reads.
"""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from hw.actuators import Relay, RelayError, open_relay

from .files import STATE_FILE_MODE, atomic_write

log = logging.getLogger(__name__)
_NOW = object()  # RelayController._record: the switch happens now


@dataclass
class RelayPolicy:
    on_while: str = "odor_high"
    hold_s: float = 0.0
    min_off_s: float = 60.0
    is_on: bool = False
    on_since: float | None = None
    off_since: float | None = None  # None: never switched off, no lockout

    @classmethod
    def from_config(cls, actuator) -> "RelayPolicy":
        return cls(on_while=actuator.on_while, hold_s=actuator.hold_s, min_off_s=actuator.min_off_s)

    def locked_off(self, now: float) -> bool:
        """Still within the minimum off time."""
        return not self.is_on and self.off_since is not None and now - self.off_since < self.min_off_s

    def wanted(self, now: float, odor_open: bool) -> bool:
        """What the relay should be now (before the minimum off time is applied)."""
        if self.on_while == "manual":
            return self.is_on
        if self.hold_s <= 0:
            return odor_open
        if self.is_on:
            return self.on_since is None or now - self.on_since < self.hold_s
        return odor_open

    def step(self, now: float, odor_open: bool) -> tuple[bool, str]:
        """Advance to `now`; returns (on, reason) with reason one of
        "odor_high", "hold", "idle", "min_off", "manual"."""
        want = self.wanted(now, odor_open)
        if self.on_while == "manual":
            return self.is_on, "manual"
        if want and not self.is_on and self.locked_off(now):
            return False, "min_off"
        if want != self.is_on:
            self.is_on = want
            if want:
                self.on_since = now
            else:
                self.off_since = now
        if not self.is_on:
            return False, "idle"
        return True, "hold" if self.hold_s > 0 else "odor_high"

    def next_change_at(self, now: float, odor_open: bool) -> float | None:
        """When the state may change with no new input (hold expiry, lockout end); None: never."""
        if self.on_while == "manual":
            return None
        if self.is_on and self.hold_s > 0 and self.on_since is not None:
            return self.on_since + self.hold_s
        if not self.is_on and odor_open and self.locked_off(now):
            return self.off_since + self.min_off_s  # locked_off() means off_since is set
        return None


def relay_state_dir(config) -> Path:
    return Path(config.storage.state_dir).expanduser() / "relays"


def write_state(path: Path, state: dict) -> bool:
    """Atomic JSON write; False (logged at debug) when the directory is not writable."""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write(path, json.dumps(state, ensure_ascii=False), mode=STATE_FILE_MODE)
        return True
    except OSError as e:
        log.debug("cannot record relay state in %s: %s", path, e)
        return False


def read_state(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RelayController:
    """One actuator: the policy, its relay driver, and the recorded state."""

    def __init__(self, actuator, relay: Relay, state_path: Path | None = None,
                 wall: Callable[[], float] = time.time, mono: Callable[[], float] = time.monotonic):
        self.id = actuator.id
        self.actuator = actuator
        self.policy = RelayPolicy.from_config(actuator)
        self.relay = relay
        self.state_path = state_path
        self.switches = 0
        self.reason = "idle"
        self._wall = wall
        self._record("start", self._carry_min_off(mono()))

    def _carry_min_off(self, now_mono: float) -> float | None:
        """A restart or config reload must not cut the minimum off time short: the last switch
        recorded (by the agent or `gedge relay`) starts the lockout. The relay starts off, so a
        relay recorded on is off from now. Returns the wall time it is off since, None if it
        was never switched (recorded so, so that a reload soon after a first start is free)."""
        wall = self._wall()
        last = read_state(self.state_path) if self.state_path is not None else None
        if last is None or (not last.get("on") and last.get("at", 0) is None):
            return None  # never switched: no lockout, none after a reload either
        try:
            off_at = wall if last.get("on") else min(wall, float(last["at"]))
        except (KeyError, TypeError, ValueError):
            off_at = wall
        self.policy.off_since = now_mono - (wall - off_at)
        return off_at

    @property
    def is_on(self) -> bool:
        return self.policy.is_on

    def update(self, now: float, odor_open: bool) -> bool:
        before = self.policy.is_on
        on, reason = self.policy.step(now, odor_open)
        if on != before:
            self.apply(on, reason)
        self.reason = reason
        return on

    def apply(self, on: bool, reason: str) -> None:
        """Drive the relay to what the policy decided (the runtime's router steps the policy)."""
        self.reason = reason
        try:
            self.relay.on() if on else self.relay.off()
        except Exception as e:  # a failing driver must not stop the agent
            log.error("relay %s: cannot switch %s: %s", self.id, "on" if on else "off", e)
        self.switches += 1
        log.info("relay %s %s (%s)", self.id, "on" if on else "off", self.reason)
        self._record(self.reason)

    def close(self) -> None:
        try:
            self.relay.close()
        finally:
            if self.policy.is_on:
                self.policy.is_on = False
                self._record("stopped")

    def health(self) -> dict[str, Any]:
        return {"id": self.id, "on": self.policy.is_on, "reason": self.reason, "switches": self.switches}

    def _record(self, reason: str, at: Any = _NOW) -> None:
        """at: the switch's wall time (default now), None: never switched."""
        if self.state_path is not None:
            write_state(self.state_path, {"id": self.id, "on": self.policy.is_on, "reason": reason,
                                          "at": self._wall() if at is _NOW else at, "by": "agent",
                                          "driver": self.actuator.driver,
                                          "pin": self.actuator.pin})


def build_relays(config, pin_factory: Any = None) -> list[RelayController]:
    """Open every configured actuator; one that cannot be opened is logged and left out."""
    out = []
    for a in config.actuators:
        try:
            relay = open_relay(a.driver, a.pin, a.active_high, pin_factory)
        except RelayError as e:
            log.error("actuator %s: %s", a.id, e)
            continue
        out.append(RelayController(a, relay, relay_state_dir(config) / f"{a.id}.json"))
    return out
