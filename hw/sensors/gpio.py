"""GPIO sensor drivers through gpiozero (imported lazily: the package is the [gpio] extra).

- `GpioDistanceDriver`: HC-SR04 / JSN-SR04T (mode 1) trigger/echo, gpiozero DistanceSensor.
- `Mcp3008MqDriver`: an MQ-135/136/137 module's analog output on an MCP3008 ADC channel,
  turned into ppm with the datasheet power law ppm = a * (Rs/R0)^b.
- `GpioDigitalDriver`: an MQ module's threshold output (DO), 1 while above the module's
  potentiometer setting.

Every constructor takes `pin_factory` (None: gpiozero's default for this board; tests pass
gpiozero's MockFactory). A driver that cannot open its pins keeps retrying and reports why
through `status()`, so a missing wire becomes a sensor_fault, not a crash.
"""
from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any, Callable

from .drivers import Periodic
from .protocols import Sample

log = logging.getLogger(__name__)

SPEED_OF_SOUND_M_S = 343.26  # gpiozero's figure (dry air, 20 °C)
ADC_MIN_FRACTION = 1.5 / 1023  # below ~1 LSB of the 10-bit MCP3008 the output is at 0 V: a wiring fault


@dataclass(frozen=True)
class MqCurve:
    """Rs/R0 power law of one gas on one MQ sensor, plus the module's electrical setup."""

    a: float = 102.2  # MQ-135, NH3 (datasheet curve fit)
    b: float = -2.473
    r0_kohm: float = 10.0  # sensor resistance in clean air; `gedge sensors calibrate ID --r0`
    rl_kohm: float = 10.0  # load resistor on the module board
    vc: float = 5.0  # heater/circuit supply of the module
    vref: float = 3.3  # MCP3008 reference voltage
    divider: float = 1.0  # module AOUT = ADC voltage * divider (e.g. 1.5 for a 10k/20k divider to 3.3 V)
    clean_air_ratio: float = 3.6  # Rs/R0 in clean air from the datasheet (MQ-135: 3.6)

    def rs_kohm(self, adc_fraction: float) -> float | None:
        """Sensor resistance from the ADC reading (0..1 of vref); None when the output is 0 V."""
        if adc_fraction < ADC_MIN_FRACTION:
            return None
        vout = adc_fraction * self.vref * self.divider
        return self.rl_kohm * (self.vc - vout) / vout

    def ppm(self, rs_kohm: float) -> float:
        return self.a * (max(rs_kohm, 1e-9) / self.r0_kohm) ** self.b

    def r0_from_clean_air(self, rs_kohm: float) -> float:
        return rs_kohm / self.clean_air_ratio


class _GpioDriver:
    def __init__(self, poll_s: float, pin_factory: Any, clock: Callable[[], float]) -> None:
        self._periodic = Periodic(poll_s, clock)
        self._pin_factory = pin_factory
        self._device: Any = None
        self._error: str | None = None
        self._next_open = 0.0
        self._clock = clock
        self.frames = 0
        self.misses = 0

    def _open(self) -> Any:
        raise NotImplementedError

    def _sample(self, device: Any) -> Sample | None:
        raise NotImplementedError

    def _ensure(self) -> Any:
        if self._device is None and self._clock() >= self._next_open:
            try:
                self._device = self._open()
                self._error = None
            except Exception as e:  # gpiozero raises many kinds (no pin factory, pin in use, ...)
                if str(e) != self._error:
                    log.warning("%s: cannot open GPIO device: %s", type(self).__name__, e)
                self._error = f"cannot open GPIO device: {e}"
                self._next_open = self._clock() + 5.0
        return self._device

    def poll(self, stop: threading.Event) -> list[Sample]:
        if not self._periodic.due(stop):
            return []
        device = self._ensure()
        if device is None:
            return []
        try:
            s = self._sample(device)
        except Exception as e:
            self._error = f"read failed: {e}"
            self.close()
            return []
        if s is None:
            self.misses += 1
            return []
        self.frames += 1
        return [s]

    def status(self) -> str:
        return self._error or "ok"

    def stats(self) -> dict:
        return {"frames": self.frames, "misses": self.misses}

    def close(self) -> None:
        dev, self._device = self._device, None
        if dev is not None:
            try:
                dev.close()
            except Exception:
                pass


class GpioDistanceDriver(_GpioDriver):
    """distance_mm from an HC-SR04 / JSN-SR04T; no echo (reads max distance) gives nothing."""

    def __init__(self, trigger_pin: int, echo_pin: int, *, max_distance_m: float = 4.0, poll_s: float = 1.0,
                 pin_factory: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(poll_s, pin_factory, clock)
        self.trigger_pin, self.echo_pin, self.max_distance_m = trigger_pin, echo_pin, max_distance_m

    def _open(self) -> Any:
        from gpiozero import DistanceSensor

        return DistanceSensor(echo=self.echo_pin, trigger=self.trigger_pin, max_distance=self.max_distance_m,
                              queue_len=3, partial=True, pin_factory=self._pin_factory)

    def _sample(self, device: Any) -> Sample | None:
        d = device.distance  # metres, averaged over gpiozero's short queue
        if d is None or d <= 0 or d >= self.max_distance_m * 0.999:
            return None
        mm = d * 1000.0
        return Sample("distance_mm", round(mm, 1), f"echo {2 * d / SPEED_OF_SOUND_M_S * 1e6:.0f} us")


class Mcp3008MqDriver(_GpioDriver):
    """`<gas>_ppm` from an MQ module on an MCP3008 channel."""

    def __init__(self, channel: int, curve: MqCurve, gas: str = "nh3", *, poll_s: float = 1.0,
                 pin_factory: Any = None, clock: Callable[[], float] = time.monotonic, spi: dict | None = None) -> None:
        super().__init__(poll_s, pin_factory, clock)
        self.channel, self.curve, self.gas, self.spi = channel, curve, gas, spi or {}

    def _open(self) -> Any:
        from gpiozero import MCP3008

        return MCP3008(channel=self.channel, max_voltage=self.curve.vref, pin_factory=self._pin_factory, **self.spi)

    def read_rs_kohm(self) -> float | None:
        """One Rs reading (for R0 calibration), or None."""
        device = self._ensure()
        return None if device is None else self.curve.rs_kohm(device.value)

    def _sample(self, device: Any) -> Sample | None:
        frac = device.value
        rs = self.curve.rs_kohm(frac)
        if rs is None or rs <= 0:
            return None  # 0 V or above the supply: a wiring fault, not a gas level
        return Sample(f"{self.gas}_ppm", self.curve.ppm(rs), f"adc {frac:.4f} rs {rs:.2f}k")


class GpioDigitalDriver(_GpioDriver):
    """`<gas>_alarm` 1.0/0.0 from an MQ module's DO pin (active low on most boards)."""

    def __init__(self, pin: int, gas: str = "nh3", *, active_high: bool = False, poll_s: float = 1.0,
                 pin_factory: Any = None, clock: Callable[[], float] = time.monotonic) -> None:
        super().__init__(poll_s, pin_factory, clock)
        self.pin, self.gas, self.active_high = pin, gas, active_high

    def _open(self) -> Any:
        from gpiozero import DigitalInputDevice

        # boards drive DO themselves; pull_up=None needs the active state stated
        return DigitalInputDevice(self.pin, pull_up=None, active_state=self.active_high, pin_factory=self._pin_factory)

    def _sample(self, device: Any) -> Sample | None:
        v = 1.0 if device.is_active else 0.0
        return Sample(f"{self.gas}_alarm", v, f"pin {self.pin} {'active' if v else 'inactive'}")
