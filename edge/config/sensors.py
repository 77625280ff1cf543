"""Fill-level and odor sensors, and the rules that turn their readings into incidents."""
from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ..i18n import _
from .base import Identifier, NonNegSeconds, PosSeconds, Section, seconds

Driver = Literal[
    "a02yy",  # ultrasonic UART auto-output frames FF H L SUM (DYP-A02YY, SEN0311, JSN-SR04T mode 2)
    "a02yy-triggered",  # same frame, sent on request 0x55 (JSN-SR04T mode 3, A02YY controlled)
    "jsn-sr04t-uart",  # a JSN-SR04T in either UART mode: asks with 0x55, which a mode-2 board ignores
    "ze03",  # Winsen ZE03/ZE07 electrochemical gas module, active upload or Q&A
    "jsonl",  # JSON lines from a microcontroller co-processor
    "gpio-distance",  # HC-SR04 / JSN-SR04T trigger/echo through gpiozero
    "mcp3008-mq",  # MQ-135/136/137 analog output through an MCP3008 ADC
    "gpio-digital",  # an MQ module's threshold output
    "sim",  # the simulated room's twin
]
SERIAL_DRIVERS = {"a02yy", "a02yy-triggered", "jsn-sr04t-uart", "ze03", "jsonl"}
DISTANCE_DRIVERS = {"a02yy", "a02yy-triggered", "jsn-sr04t-uart", "gpio-distance"}
MQ_DRIVERS = {"mcp3008-mq", "gpio-digital"}
MQ_WARMUP_S = 180.0  # an MQ heater's resistance settles over minutes after power-on; a cold sensor reads as gas


class MqCurve(Section):
    # ppm = a * (Rs/R0) ** b ; datasheet curve fit per gas (defaults: MQ-135, NH3)
    a: float = Field(102.2, gt=0, le=1e6)
    b: float = Field(-2.473, ge=-20, le=20)
    r0_kohm: float = Field(10.0, gt=0, le=100_000)  # calibrated in clean air by `gedge sensors calibrate ID --r0`
    rl_kohm: float = Field(10.0, gt=0, le=100_000)  # load resistor on the module
    vc: float = Field(5.0, gt=0, le=24)  # module supply (heater and divider)
    vref: float = Field(3.3, gt=0, le=5.5)  # MCP3008 reference voltage
    divider: float = Field(1.0, ge=1, le=100)  # AOUT = ADC input * divider (a 5 V module through a divider to 3.3 V)
    clean_air_ratio: float = Field(3.6, gt=0, le=1000)  # Rs/R0 in clean air, from the datasheet chart


class Sensor(Section):
    id: Identifier
    kind: Literal["fill", "odor"]
    driver: Driver
    port: str | None = None  # serial device, e.g. /dev/ttyAMA0 or /dev/serial/by-id/…
    baudrate: int = Field(9600, ge=300, le=4_000_000)
    bin: Identifier | None = None  # the zones.bins id a fill sensor sits above
    empty_mm: float | None = Field(None, gt=0, le=10_000)  # distance to the bottom of an empty bin
    full_mm: float | None = Field(None, gt=0, le=10_000)  # distance to the rubbish when the bin counts as full
    gas: str | None = None  # odor: nh3 | h2s | co | …; for jsonl/ze03 the reading's name
    poll_s: float = seconds(1.0, high=3600)  # triggered/Q&A/GPIO drivers: how often to ask
    timeout_s: float = seconds(10.0, high=3600)  # no valid reading this long: sensor_fault
    warmup_s: NonNegSeconds | None = None  # no odor alarms this long after start; default: MQ drivers 180 s, others 0
    filters: list[dict[str, Any]] = Field(default_factory=list)  # ESPHome-style filter chain
    # GPIO wiring (BCM numbers)
    trigger_pin: int | None = Field(None, ge=0, le=53)
    echo_pin: int | None = Field(None, ge=0, le=53)
    pin: int | None = Field(None, ge=0, le=53)
    adc_channel: int | None = Field(None, ge=0, le=7)
    curve: MqCurve | None = None
    json_id: str | None = None  # jsonl: the "id" the co-processor uses, if not this sensor's id
    mode: Literal["active", "qa"] = "active"  # ze03: active upload, or Q&A (asked every poll_s)
    decimals: int = Field(1, ge=0, le=4)  # ze03 Q&A: the module's resolution (replies carry no decimals byte)
    active_high: bool = False  # gpio-digital: most MQ boards pull DO low above the threshold
    max_distance_m: float = Field(4.0, gt=0, le=10)  # gpio-distance: farther (or no echo) is no reading
    reconnect_max_s: float = seconds(5.0, high=3600)  # serial: longest wait between reopen attempts of a lost port
    scenario: str | None = None  # sim: scenario name; default: the camera's sim:NAME, else a constant value

    @field_validator("filters")
    @classmethod
    def _filters(cls, v: list[dict[str, Any]]) -> list[dict[str, Any]]:
        from ..sensing.filters import FilterChain

        FilterChain.from_config(v)  # raises ValueError naming the bad filter
        return v

    @model_validator(mode="after")
    def _wiring(self) -> "Sensor":
        if self.driver in SERIAL_DRIVERS and not self.port:
            raise ValueError(_("driver {driver} needs a serial port").format(driver=self.driver))
        if self.kind == "fill":
            if self.empty_mm is None or self.full_mm is None:
                raise ValueError(_("a fill sensor needs empty_mm and full_mm"))
            if self.full_mm >= self.empty_mm:
                raise ValueError(_("full_mm ({full_mm:g}) must be less than empty_mm ({empty_mm:g}): the sensor looks down")
                                 .format(full_mm=self.full_mm, empty_mm=self.empty_mm))
        if self.driver == "gpio-distance" and (self.trigger_pin is None or self.echo_pin is None):
            raise ValueError(_("driver gpio-distance needs trigger_pin and echo_pin"))
        if self.driver == "gpio-digital" and self.pin is None:
            raise ValueError(_("driver gpio-digital needs pin"))
        if self.driver == "mcp3008-mq" and self.adc_channel is None:
            raise ValueError(_("driver mcp3008-mq needs adc_channel"))
        if self.driver == "mcp3008-mq" and self.curve is None:
            self.curve = MqCurve()
        if self.kind == "odor" and not self.gas:
            raise ValueError(_("an odor sensor needs gas (nh3, h2s, ...): its readings are <gas>_ppm"))
        if self.kind == "fill" and self.driver in ("ze03", "mcp3008-mq", "gpio-digital"):
            raise ValueError(_("driver {driver} measures gas, not distance: use kind odor").format(driver=self.driver))
        if self.kind == "odor" and self.driver in DISTANCE_DRIVERS:
            raise ValueError(_("driver {driver} measures distance, not gas: use kind fill").format(driver=self.driver))
        if self.warmup_s is None:
            self.warmup_s = MQ_WARMUP_S if self.driver in MQ_DRIVERS else 0.0
        return self


class FullRule(Section):
    open_pct: float = Field(90.0, gt=0, le=100)
    clear_pct: float = Field(70.0, ge=0, lt=100)
    min_duration_s: NonNegSeconds = 30.0

    @model_validator(mode="after")
    def _order(self) -> "FullRule":
        if self.clear_pct >= self.open_pct:
            raise ValueError(_("clear_pct ({clear_pct:g}) must be lower than open_pct ({open_pct:g})").format(clear_pct=self.clear_pct, open_pct=self.open_pct))
        return self


class EmptiedRule(Section):
    drop_pct: float = Field(40.0, gt=0, le=100)  # a fall of at least this many points…
    within_s: PosSeconds = 300.0  # …within this time is one bin_emptied event
    hold_s: NonNegSeconds = 60.0  # …from a level that held this long (a lid opening is a shorter spike)

    @model_validator(mode="after")
    def _hold_within(self) -> "EmptiedRule":
        if self.hold_s >= self.within_s:
            raise ValueError(_("hold_s ({hold_s:g}) must be shorter than within_s ({within_s:g})").format(
                hold_s=self.hold_s, within_s=self.within_s))
        return self


class GasThreshold(Section):
    open_ppm: float = Field(gt=0, le=100_000)
    clear_ppm: float = Field(ge=0, le=100_000)

    @model_validator(mode="after")
    def _order(self) -> "GasThreshold":
        if self.clear_ppm >= self.open_ppm:
            raise ValueError(_("clear_ppm ({clear_ppm:g}) must be lower than open_ppm ({open_ppm:g})").format(clear_ppm=self.clear_ppm, open_ppm=self.open_ppm))
        return self


class OdorRule(Section):
    thresholds: dict[str, GasThreshold] = Field(
        default_factory=lambda: {
            "nh3": GasThreshold(open_ppm=10.0, clear_ppm=5.0),
            "h2s": GasThreshold(open_ppm=1.0, clear_ppm=0.5),
        }
    )
    min_duration_s: NonNegSeconds = 20.0
