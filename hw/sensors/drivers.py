"""Sensor device drivers behind one small interface, used by one reader thread each.

    driver.poll(stop) -> list[Sample]   # blocks at most ~poll period / read timeout
    driver.status() -> str              # "ok", or why there are no readings
    driver.stats() -> dict              # frames, garbled, reconnects, ...
    driver.close()

Serial drivers (a02yy, a02yy-triggered, ze03, jsonl) live here; the GPIO ones in
`hw.sensors.gpio`; the simulated twin is `SimDriver`.
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Protocol

from .protocols import (
    A02YY_TRIGGER, ZE03_QA_REQUEST, ZE03_SET_ACTIVE_MODE, ZE03_SET_QA_MODE, Sample, make_parser,
)
from .transport import SerialTransport


class Driver(Protocol):
    def poll(self, stop: threading.Event) -> list[Sample]: ...
    def status(self) -> str: ...
    def stats(self) -> dict: ...
    def close(self) -> None: ...


class Periodic:
    """Waits until the next multiple of `period_s`; returns True when a read is due."""

    def __init__(self, period_s: float, clock: Callable[[], float] = time.monotonic, max_wait_s: float = 0.25):
        self.period_s = period_s
        self._clock = clock
        self._next = clock()
        self._max_wait = max_wait_s

    def due(self, stop: threading.Event) -> bool:
        now = self._clock()
        if now >= self._next:
            # next slot; when we fell far behind, do not fire a burst to catch up
            self._next = max(self._next + self.period_s, now)
            return True
        stop.wait(min(self._next - now, self._max_wait))
        return False


class SerialDriver:
    """A serial sensor: transport + protocol parser (+ request bytes for polled modes).

    protocol: a02yy (auto output), a02yy-triggered (write 0x55 each poll), ze03 with
    mode "active" (module uploads every second) or "qa" (switch to Q&A, ask each poll),
    jsonl (co-processor lines).
    """

    def __init__(
        self,
        protocol: str,
        transport: SerialTransport,
        *,
        poll_s: float = 1.0,
        mode: str = "active",
        gas: str | None = None,
        decimals: int = 1,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.protocol = protocol
        self.transport = transport
        self.parser = make_parser(protocol, **({"gas": gas, "qa_decimals": decimals} if protocol == "ze03" else {}))
        self._request: bytes | None = None
        self._setup: bytes | None = None
        if protocol == "a02yy-triggered":
            self._request = A02YY_TRIGGER
        elif protocol == "ze03":
            if mode == "qa":
                self._setup, self._request = ZE03_SET_QA_MODE, ZE03_QA_REQUEST
            else:
                self._setup = ZE03_SET_ACTIVE_MODE
        self._periodic = Periodic(poll_s, clock) if self._request else None
        self._setup_sent_for = 0

    def poll(self, stop: threading.Event) -> list[Sample]:
        t = self.transport
        if t.connected and self._setup and self._setup_sent_for != t.opens:
            self._setup_sent_for = t.opens  # (re)connected: put the module in our mode again
            t.write(self._setup)
        if self._periodic is not None and t.connected and self._periodic.due(stop):
            t.write(self._request)
        data = t.read()
        return self.parser.feed(data) if data else []

    def status(self) -> str:
        return "ok" if self.transport.connected else (self.transport.last_error or "not connected")

    def stats(self) -> dict:
        return {**self.parser.stats(), "reconnects": max(0, self.transport.opens - 1), "losses": self.transport.losses}

    def close(self) -> None:
        self.transport.close()


class SimDriver:
    """The simulated twin: every `poll_s` asks `value_fn(t)` (t: seconds since start).

    `value_fn` returns the sensor's value in `quantity` units, or None when the simulated
    sensor gives nothing (a dead sensor, an echo lost).
    """

    def __init__(
        self,
        quantity: str,
        value_fn: Callable[[float], float | None],
        *,
        poll_s: float = 1.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.quantity = quantity
        self.value_fn = value_fn
        self._clock = clock
        self._t0 = clock()
        self._periodic = Periodic(poll_s, clock)
        self.frames = 0
        self.errors = 0
        self._last_error: str | None = None

    def poll(self, stop: threading.Event) -> list[Sample]:
        if not self._periodic.due(stop):
            return []
        t = self._clock() - self._t0
        try:
            v = self.value_fn(t)
        except Exception as e:  # a broken scenario must not kill the reader thread
            self.errors += 1
            self._last_error = f"simulation error: {e}"
            return []
        self._last_error = None
        if v is None:
            return []
        self.frames += 1
        return [Sample(self.quantity, round(float(v), 3), f"sim t={t:.1f}")]

    def status(self) -> str:
        return self._last_error or "ok"

    def stats(self) -> dict:
        return {"frames": self.frames, "errors": self.errors}

    def close(self) -> None:
        pass
