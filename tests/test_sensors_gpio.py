"""GPIO sensor drivers on gpiozero's MockFactory: DistanceSensor with MockTriggerPin, an MCP3008
emulated on the mock SPI bus (gpiozero ships no mock MCP3008, so one is built on MockSPIDevice),
and an MQ module's digital output."""
from __future__ import annotations

import threading
import time
import warnings

import pytest

gpiozero = pytest.importorskip("gpiozero", reason="gpiozero is the [gpio] extra")
from gpiozero import Device  # noqa: E402
from gpiozero.pins.mock import MockFactory, MockPin, MockSPIDevice, MockTriggerPin, PinState  # noqa: E402

from edge.config import Config  # noqa: E402
from edge.sensing.manager import SensorManager  # noqa: E402
from hw.sensors.gpio import GpioDigitalDriver, GpioDistanceDriver, Mcp3008MqDriver, MqCurve  # noqa: E402


@pytest.fixture
def factory():
    f = MockFactory()
    old = Device.pin_factory
    # gpiozero's software SPI bus asks for the global factory even when one is passed in
    Device.pin_factory = f
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield f
    f.reset()
    Device.pin_factory = old


class VirtualClockFactory(MockFactory):
    """Pin edges stamped by a clock that only the trigger pin advances: the echo the sensor measures
    is exactly as long as asked, however the threads are scheduled (gpiozero's MockTriggerPin sleeps
    in a thread and its pins stamp edges with the real clock, so a loaded machine stretched a 10 ms
    echo into 2130 mm instead of 1716)."""

    def __init__(self):
        super().__init__()
        self.now = 1000.0

    def ticks(self):
        return self.now


class VirtualClockPin(MockPin):
    """An input pin whose edges carry the factory's virtual time (what DistanceSensor measures)."""

    def _change_state(self, value):
        if self._state == value:
            return False
        t = self._factory.now
        self._state = value
        self.states.append(PinState(t - self._last_change, value))
        self._last_change = t
        return True


class InstantEchoTriggerPin(MockPin):
    """A trigger pin whose echo answers at once, its length measured on the factory's virtual clock."""

    def __init__(self, factory, info, echo_pin=None, echo_time=0.0):
        super().__init__(factory, info)
        self.clock, self.echo_pin, self.echo_time = factory, echo_pin, echo_time
        self.pings = 0

    def _set_state(self, value):
        super()._set_state(value)
        if value:  # the trigger pulse: the echo rises, and falls echo_time later on the virtual clock
            self.pings += 1
            self.clock.now += 0.0005
            self.echo_pin.drive_high()
            self.clock.now += self.echo_time
            self.echo_pin.drive_low()


@pytest.fixture
def virtual_factory():
    f = VirtualClockFactory()
    old = Device.pin_factory
    Device.pin_factory = f
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        yield f
    f.reset()
    Device.pin_factory = old


class MockMCP3008(MockSPIDevice):
    """The slave side of an MCP3008 on the default SPI pins: start bit, SGL/DIFF, 3 channel bits, then 10 result bits."""

    def __init__(self, *, pin_factory, vref: float = 3.3):
        super().__init__(11, 10, 9, 8, pin_factory=pin_factory)
        self.vref = vref
        self.volts = [0.0] * 8
        self.state = "idle"
        self.conversions = 0

    def on_start(self):
        super().on_start()
        self.state = "idle"

    def on_bit(self):
        if self.state == "idle":
            if self.rx_buf[-1]:  # start bit
                self.state, self.rx_buf = "mode", []
        elif self.state == "mode":
            self.state, self.rx_buf = "channel", []
        elif self.state == "channel" and len(self.rx_buf) == 3:
            v = min(max(self.volts[self.rx_word()], 0.0), self.vref)
            self.tx_word(min(1023, int(v / self.vref * 1024)), 12)  # sample period, null bit, 10 bits
            self.state = "result"
            self.conversions += 1
        elif self.state == "result" and not self.tx_buf:
            self.state, self.rx_buf = "idle", []


def poll_until(driver, n: int, timeout_s: float = 5.0):
    stop = threading.Event()
    out = []
    end = time.monotonic() + timeout_s
    while len(out) < n and time.monotonic() < end:
        out += driver.poll(stop)
    return out


@pytest.mark.parametrize("echo_s,mm", [(0.010, 1716.3), (0.002, 343.3)])
def test_distance_sensor_with_mock_trigger_pin(virtual_factory, echo_s, mm):
    echo = virtual_factory.pin(24, pin_class=VirtualClockPin)
    # a 10 ms echo is 343.26 m/s * 0.010 s / 2 = 1716 mm
    trigger = virtual_factory.pin(23, pin_class=InstantEchoTriggerPin, echo_pin=echo, echo_time=echo_s)
    d = GpioDistanceDriver(23, 24, poll_s=0.05, pin_factory=virtual_factory)
    try:
        out = poll_until(d, 3)
    finally:
        d.close()
    assert len(out) == 3 and d.status() == "ok" and trigger.pings >= 3
    for s in out:
        assert s.quantity == "distance_mm"
        assert s.value == pytest.approx(mm, abs=0.2)  # exact: the echo's length does not depend on the threads


def test_distance_sensor_without_echo_gives_no_reading(factory):
    factory.pin(24)  # echo never rises: nothing is wired to the trigger
    factory.pin(23)
    d = GpioDistanceDriver(23, 24, poll_s=0.05, max_distance_m=1.0, pin_factory=factory)
    try:
        out = poll_until(d, 1, timeout_s=1.0)
    finally:
        d.close()
    assert out == [] and d.misses >= 1


def test_mq_curve_math():
    c = MqCurve(a=102.2, b=-2.473, r0_kohm=10, rl_kohm=10, vc=5.0, vref=3.3)
    # Vout 2.5 V on a 5 V divider with RL 10k: Rs = 10 * (5 - 2.5) / 2.5 = 10k -> Rs/R0 = 1 -> ppm = a
    assert c.rs_kohm(2.5 / 3.3) == pytest.approx(10.0)
    assert c.ppm(10.0) == pytest.approx(102.2)
    assert c.ppm(20.0) == pytest.approx(102.2 * 2 ** -2.473)
    assert c.r0_from_clean_air(36.0) == pytest.approx(10.0)
    assert c.rs_kohm(0.0) is None


def test_mcp3008_mq_driver_on_mock_spi(factory):
    adc = MockMCP3008(pin_factory=factory)
    curve = MqCurve(a=102.2, b=-2.473, r0_kohm=10, rl_kohm=10, vc=5.0, vref=3.3)
    d = Mcp3008MqDriver(3, curve, "nh3", poll_s=0.01, pin_factory=factory)
    try:
        adc.volts[3] = 2.5  # Rs = R0: ppm = a
        [s] = poll_until(d, 1)
        assert s.quantity == "nh3_ppm" and s.value == pytest.approx(102.2, rel=0.02)
        adc.volts[3] = 1.0  # Rs = 10 * 4 / 1 = 40k: cleaner air, far lower ppm
        [s] = poll_until(d, 1)
        assert s.value == pytest.approx(102.2 * 4 ** -2.473, rel=0.02)
        assert d.read_rs_kohm() == pytest.approx(40.0, rel=0.02)
        adc.volts[3] = 0.0  # output stuck at 0 V: a wiring fault, not a reading
        assert poll_until(d, 1, timeout_s=0.3) == []
    finally:
        d.close()
    assert adc.conversions >= 3


def test_digital_mq_output_is_active_low_by_default(factory):
    pin = factory.pin(17)
    pin.drive_high()  # idle board: DO high
    d = GpioDigitalDriver(17, "h2s", poll_s=0.01, pin_factory=factory)
    try:
        [s] = poll_until(d, 1)
        assert (s.quantity, s.value) == ("h2s_alarm", 0.0)
        pin.drive_low()  # above the board's threshold
        [s] = poll_until(d, 1)
        assert s.value == 1.0
    finally:
        d.close()


def test_manager_runs_gpio_sensors_and_opens_odor_high(factory):
    pin = factory.pin(17)
    pin.drive_low()
    cfg = Config.model_validate({
        "sensors": [{"id": "odor-2", "kind": "odor", "driver": "gpio-digital", "pin": 17, "gas": "nh3", "poll_s": 0.02,
                     "warmup_s": 0}],
        "rules": {"odor_high": {"min_duration_s": 0.1}},
    })
    events = []
    with SensorManager(cfg, on_event=events.append, pin_factory=factory):
        end = time.monotonic() + 3
        while not events and time.monotonic() < end:
            time.sleep(0.02)
        pin.drive_high()
        while len(events) < 2 and time.monotonic() < end:
            time.sleep(0.02)
    assert [(e.action, e.type, e.measurements) for e in events] == [
        ("open", "odor_high", {"nh3_alarm": 1.0}), ("resolve", "odor_high", {"nh3_alarm": 0.0})]


def test_gpio_open_failure_is_a_status_not_a_crash(factory):
    factory.pin(23, pin_class=MockTriggerPin)
    bad = GpioDistanceDriver(23, 99, poll_s=0.01, pin_factory=factory)  # no GPIO99 on a Pi
    assert poll_until(bad, 1, timeout_s=0.2) == []
    assert "cannot open GPIO device" in bad.status()
