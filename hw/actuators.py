"""Switched loads (deodorizer, fan): a relay on a GPIO pin, and its simulated twin.

    relay = open_relay("gpio", pin=17, active_high=False)   # or open_relay("sim")
    relay.on(); relay.off(); relay.is_on; relay.close()

`GpioRelay` drives a gpiozero `OutputDevice` (gpiozero is imported lazily: it is the [gpio]
extra). `active_high=False` suits the common low-triggered relay boards. The relay starts
off, and `close()` switches it off before releasing the pin, so a stopped agent never leaves
a fan running. Every constructor takes `pin_factory` (None: the board's default; tests pass
gpiozero's MockFactory).
"""
from __future__ import annotations

import logging
from typing import Any, Protocol

log = logging.getLogger(__name__)


class RelayError(RuntimeError):
    """The relay cannot be driven (no GPIO on this machine, pin busy, …)."""


class Relay(Protocol):
    @property
    def is_on(self) -> bool: ...
    def on(self) -> None: ...
    def off(self) -> None: ...
    def close(self) -> None: ...


class GpioRelay:
    def __init__(self, pin: int, active_high: bool = True, pin_factory: Any = None):
        try:
            from gpiozero import OutputDevice

            self._dev = OutputDevice(pin, active_high=active_high, initial_value=False, pin_factory=pin_factory)
        except Exception as e:  # gpiozero raises many kinds: no pin factory, pin in use, bad pin, ImportError
            raise RelayError(f"cannot open the relay on GPIO {pin}: {e}") from e
        self.pin = pin

    @property
    def is_on(self) -> bool:
        return bool(self._dev.value)

    def on(self) -> None:
        self._dev.on()

    def off(self) -> None:
        self._dev.off()

    def close(self) -> None:
        try:
            self._dev.off()
        finally:
            self._dev.close()


class SimRelay:
    """A relay that only remembers its state (and every switch, for tests and the demo)."""

    def __init__(self) -> None:
        self._on = False
        self.switches: list[bool] = []

    @property
    def is_on(self) -> bool:
        return self._on

    def on(self) -> None:
        if not self._on:
            self.switches.append(True)
        self._on = True

    def off(self) -> None:
        if self._on:
            self.switches.append(False)
        self._on = False

    def close(self) -> None:
        self.off()


def open_relay(driver: str, pin: int | None = None, active_high: bool = True, pin_factory: Any = None) -> Relay:
    if driver == "sim":
        return SimRelay()
    if driver == "gpio":
        if pin is None:
            raise RelayError("a gpio relay needs a pin number")
        return GpioRelay(pin, active_high, pin_factory)
    raise RelayError(f"unknown relay driver {driver!r}")
