"""Reader threads for the room's sensors: drivers in, readings and alarm events out.

For the runtime:

    mgr = SensorManager(cfg, clock=time.monotonic, on_reading=fn, on_event=fn)
    mgr.start()            # one reader thread per sensor device (sensors sharing a jsonl port share one)
    mgr.snapshot()         # {sensor_id: {"state", "status", "reading", "stats"}} for health/telemetry
    mgr.stop()

- `on_reading(Reading)` gets every filtered reading (`edge.sensing.alarms.Reading`:
  sensor_id, kind, quantity, raw, value, unit, t, state).
- `on_event(AlarmEvent)` gets ("open"|"resolve", "bin_full"|"odor_high"|"sensor_fault",
  subject, measurements, t) and the one-shot ("event", "bin_emptied", subject,
  {"fill_pct_before", "fill_pct_after"}, t). Feed them to the incident store.
- Both callbacks run on the reader threads: keep them short (put on a queue). An exception
  in a callback is logged and the reader goes on.
- `t` is the `clock` passed in (monotonic by default: durations survive NTP steps at boot).

The logic itself (filters, fill %, hysteresis, faults) is pure and lives in
`edge.sensing.pipeline` / `alarms` / `filters`; this module only does threads and IO.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable

from hw.sensors.drivers import Driver, SerialDriver, SimDriver
from hw.sensors.transport import SerialTransport

from .alarms import AlarmEvent, Reading
from .pipeline import SensorPipeline

log = logging.getLogger(__name__)

TICK_S = 0.2  # how often faults and held levels are re-checked when nothing arrives


def sim_value_fn(sensor: Any, default_scenario: str | None = None) -> Callable[[float], float | None]:
    """The simulated room's value for this sensor: distance in mm (fill) or ppm (odor).

    Uses the sensor's `scenario` (else the camera's sim:NAME) when it has keyframes for this
    sensor id; otherwise a steady plausible value (a half-full bin, clean air).
    """
    name = sensor.scenario or default_scenario
    if name:
        try:
            from hw.sim.scenario import load_scenario

            sc = load_scenario(name)
            if sc.sensor_value(sensor.id, 0.0) is not None:
                return lambda t: sc.sensor_value(sensor.id, t)
        except Exception as e:  # a missing/broken scenario falls back, visibly
            log.warning("sensor %s: scenario %r not usable (%s); using a steady value", sensor.id, name, e)
    if sensor.kind == "fill":
        mid = (sensor.empty_mm + sensor.full_mm) / 2
        return lambda t: mid
    return lambda t: 1.0


def make_driver(sensor: Any, stop: threading.Event, clock: Callable[[], float] = time.monotonic, *,
                pin_factory: Any = None, default_scenario: str | None = None) -> Driver:
    """The hw driver a config Sensor asks for."""
    d = sensor.driver
    if d in ("a02yy", "a02yy-triggered", "jsn-sr04t-uart", "ze03", "jsonl"):
        transport = SerialTransport(sensor.port, sensor.baudrate, backoff_max_s=sensor.reconnect_max_s,
                                    backoff_initial_s=min(0.5, sensor.reconnect_max_s), stop=stop)
        # a JSN-SR04T answers 0x55 in mode 3 and ignores it in mode 2 (auto output): the triggered
        # protocol reads both, so site staff need not know the board's resistor setting
        protocol = "a02yy-triggered" if d == "jsn-sr04t-uart" else d
        return SerialDriver(protocol, transport, poll_s=sensor.poll_s, mode=sensor.mode, gas=sensor.gas,
                            decimals=sensor.decimals, clock=clock)
    if d == "sim":
        quantity = "distance_mm" if sensor.kind == "fill" else f"{sensor.gas}_ppm"
        return SimDriver(quantity, sim_value_fn(sensor, default_scenario), poll_s=sensor.poll_s, clock=clock)
    from hw.sensors import gpio

    if d == "gpio-distance":
        return gpio.GpioDistanceDriver(sensor.trigger_pin, sensor.echo_pin, max_distance_m=sensor.max_distance_m,
                                       poll_s=sensor.poll_s, pin_factory=pin_factory, clock=clock)
    if d == "mcp3008-mq":
        c = sensor.curve
        curve = gpio.MqCurve(a=c.a, b=c.b, r0_kohm=c.r0_kohm, rl_kohm=c.rl_kohm, vc=c.vc, vref=c.vref,
                             divider=c.divider, clean_air_ratio=c.clean_air_ratio)
        return gpio.Mcp3008MqDriver(sensor.adc_channel, curve, sensor.gas, poll_s=sensor.poll_s,
                                    pin_factory=pin_factory, clock=clock)
    if d == "gpio-digital":
        return gpio.GpioDigitalDriver(sensor.pin, sensor.gas, active_high=sensor.active_high, poll_s=sensor.poll_s,
                                      pin_factory=pin_factory, clock=clock)
    raise ValueError(f"unknown driver {d!r}")


def _camera_scenario(cfg: Any) -> str | None:
    src = str(getattr(getattr(cfg, "camera", None), "source", "") or "")
    return src[4:] if src.startswith("sim:") else None


class _Device:
    """One driver and the sensors it serves, run by one thread."""

    def __init__(self, name: str, driver: Driver, pipelines: list[SensorPipeline]) -> None:
        self.name = name
        self.driver = driver
        self.pipelines = pipelines
        self.thread: threading.Thread | None = None
        self.beat = time.monotonic()  # the reader's loop went round at this time (for the watchdog)


class SensorManager:
    def __init__(
        self,
        config: Any,
        clock: Callable[[], float] = time.monotonic,
        on_reading: Callable[[Reading], None] | None = None,
        on_event: Callable[[AlarmEvent], None] | None = None,
        *,
        sensor_ids: list[str] | None = None,
        pin_factory: Any = None,
        driver_factory: Callable[..., Driver] | None = None,
    ) -> None:
        """`config`: the whole Config (sensors + rules + camera); `sensor_ids`: only these."""
        self.config = config
        self.clock = clock
        self.on_reading = on_reading
        self.on_event = on_event
        self._stop = threading.Event()
        self._pin_factory = pin_factory
        self._driver_factory = driver_factory or make_driver
        sensors = [s for s in config.sensors if sensor_ids is None or s.id in sensor_ids]
        if sensor_ids is not None:
            unknown = set(sensor_ids) - {s.id for s in sensors}
            if unknown:
                raise ValueError(f"no sensor with id {sorted(unknown)[0]!r}")
        self.sensors = sensors
        self.devices: list[_Device] = []
        self.pipelines: dict[str, SensorPipeline] = {}

    def _build(self) -> None:
        now = self.clock()
        groups: dict[str, list[Any]] = {}
        for s in self.sensors:
            # several jsonl sensors on one co-processor port share its reader
            key = f"port:{s.port}" if s.driver == "jsonl" else f"sensor:{s.id}"
            groups.setdefault(key, []).append(s)
        scenario = _camera_scenario(self.config)
        for key, members in groups.items():
            driver = self._driver_factory(members[0], self._stop, self.clock, pin_factory=self._pin_factory,
                                          default_scenario=scenario)
            pipes = [SensorPipeline(s, self.config.rules, now) for s in members]
            for p in pipes:
                self.pipelines[p.sensor.id] = p
            self.devices.append(_Device(key, driver, pipes))

    def start(self) -> "SensorManager":
        self._build()
        for dev in self.devices:
            dev.thread = threading.Thread(target=self._run, args=(dev,), name=f"sensor-{dev.name}", daemon=True)
            dev.thread.start()
        return self

    def stop(self, timeout_s: float = 3.0) -> None:
        self._stop.set()
        for dev in self.devices:
            if dev.thread is not None:
                dev.thread.join(timeout_s)
            try:
                dev.driver.close()
            except Exception:
                log.exception("closing sensor driver %s", dev.name)

    def __enter__(self) -> "SensorManager":
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()

    def _deliver(self, readings: list[Reading], events: list[AlarmEvent]) -> None:
        for r in readings:
            if self.on_reading is not None:
                try:
                    self.on_reading(r)
                except Exception:
                    log.exception("sensor reading callback failed")
        for e in events:
            log.info("sensor alarm %s %s %s %s", e.action, e.type, e.subject.get("sensor_id"), e.measurements)
            if self.on_event is not None:
                try:
                    self.on_event(e)
                except Exception:
                    log.exception("sensor event callback failed")

    def _run(self, dev: _Device) -> None:
        last_tick = 0.0
        while not self._stop.is_set():
            dev.beat = time.monotonic()
            try:
                samples = dev.driver.poll(self._stop)
            except Exception:  # a driver bug must not end the reader; back off and go on
                log.exception("sensor driver %s failed", dev.name)
                self._stop.wait(1.0)
                samples = []
            now = self.clock()
            for sample in samples:
                for p in dev.pipelines:
                    if p.accepts(sample):
                        self._deliver(*p.feed(sample, now))
            if now - last_tick >= TICK_S or samples:
                last_tick = now
                reason = dev.driver.status()
                for p in dev.pipelines:
                    self._deliver(*p.tick(now, reason))

    def heartbeat(self) -> float | None:
        """For the watchdog: monotonic time the slowest reader last went round; None without sensors."""
        if not self.devices:
            return None
        if any(dev.thread is None or not dev.thread.is_alive() for dev in self.devices):
            return float("-inf")
        return min(dev.beat for dev in self.devices)

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """Per sensor: state (ok/full/high/warmup/fault), driver status, last reading, counters."""
        now = self.clock()
        out: dict[str, dict[str, Any]] = {}
        for dev in self.devices:
            stats = dev.driver.stats()
            status = dev.driver.status()
            for p in dev.pipelines:
                out[p.sensor.id] = {"state": p.alarms.state_at(now), "status": status,
                                    "reading": p.last, "stats": {**stats, "samples": p.samples}}
        return out
