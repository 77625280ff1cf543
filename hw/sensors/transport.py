"""A serial port that survives being unplugged: pyserial plus reconnect with backoff.

`SerialTransport.read()` never raises. When the port disappears (USB adapter pulled, pty
closed) it closes its side, then tries to reopen with a doubling backoff until the port
returns, and reading resumes; nothing above it restarts. `connected`, `last_error`,
`opens` and `losses` say what happened.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

import serial

log = logging.getLogger(__name__)


class SerialTransport:
    def __init__(
        self,
        port: str,
        baudrate: int = 9600,
        *,
        read_timeout_s: float = 0.2,
        backoff_initial_s: float = 0.5,
        backoff_max_s: float = 5.0,
        stop: threading.Event | None = None,
        open_port: Callable[..., serial.Serial] = serial.Serial,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.port = port
        self.baudrate = baudrate
        self.read_timeout_s = read_timeout_s
        self.backoff_initial_s = backoff_initial_s
        self.backoff_max_s = backoff_max_s
        self._stop = stop or threading.Event()
        self._open_port = open_port
        self._clock = clock
        self._ser: serial.Serial | None = None
        self._backoff = backoff_initial_s
        self._next_try = 0.0
        self.last_error: str | None = None
        self.opens = 0  # successful opens; a driver re-sends its setup when this grows
        self.losses = 0

    @property
    def connected(self) -> bool:
        return self._ser is not None

    def _try_open(self) -> bool:
        now = self._clock()
        if now < self._next_try:
            self._stop.wait(min(self._next_try - now, self.read_timeout_s))
            return False
        try:
            self._ser = self._open_port(
                self.port, self.baudrate, bytesize=8, parity="N", stopbits=1, timeout=self.read_timeout_s,
                # two readers on one port would each get half the bytes: the second one is refused instead
                exclusive=True,
            )
        except (serial.SerialException, OSError, ValueError) as e:
            self._fail(f"cannot open {self.port}: {e}")
            return False
        self.opens += 1
        if self.last_error:
            log.info("serial port %s is back", self.port)
        self.last_error = None
        self._backoff = self.backoff_initial_s
        return True

    def _fail(self, why: str) -> None:
        if why != self.last_error:
            log.warning("%s; retrying (backoff up to %g s)", why, self.backoff_max_s)
        self.last_error = why
        self._next_try = self._clock() + self._backoff
        self._backoff = min(self._backoff * 2, self.backoff_max_s)

    def _lost(self, e: Exception) -> None:
        self.losses += 1
        self.close()
        self._fail(f"serial port {self.port} lost: {e}")

    def read(self) -> bytes:
        """What arrived within about read_timeout_s (possibly b""). Never raises."""
        if self._ser is None and not self._try_open():
            return b""
        ser = self._ser
        assert ser is not None
        try:
            data = ser.read(1)  # blocks up to read_timeout_s for the first byte
            if data:
                waiting = ser.in_waiting
                if waiting:
                    data += ser.read(waiting)
            return data
        except (serial.SerialException, OSError, TypeError) as e:
            # TypeError: pyserial reading a file descriptor closed under it
            self._lost(e)
            return b""

    def write(self, data: bytes) -> bool:
        """Send `data` now; False (never an exception) when the port is not there."""
        if self._ser is None:
            return False
        try:
            self._ser.write(data)
            self._ser.flush()
            return True
        except (serial.SerialException, OSError, TypeError) as e:
            self._lost(e)
            return False

    def close(self) -> None:
        ser, self._ser = self._ser, None
        if ser is not None:
            try:
                ser.close()
            except (serial.SerialException, OSError):
                pass
