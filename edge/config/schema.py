"""The whole configuration: one typed model per section, plus the checks that span sections."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from .base import Section
from .sensors import EmptiedRule, FullRule, OdorRule, Sensor
from .site import Device, Schedule, Storage
from .uplink import Uplink
from .vision import BagRule, Camera, Evidence, Vision, Zones
from .voice import Actuator, Voice


class Rules(Section):
    bag_outside_bin: BagRule = BagRule()
    bin_full: FullRule = FullRule()
    bin_emptied: EmptiedRule = EmptiedRule()
    odor_high: OdorRule = OdorRule()


class Config(Section):
    device: Device = Device()
    camera: Camera = Camera()
    vision: Vision = Vision()
    evidence: Evidence = Evidence()
    zones: Zones = Zones()
    rules: Rules = Rules()
    sensors: list[Sensor] = Field(default_factory=list)
    voice: Voice = Voice()
    actuators: list[Actuator] = Field(default_factory=list)
    uplink: Uplink = Uplink()
    storage: Storage = Storage()
    schedule: Schedule = Schedule()


Loc = tuple[str | int, ...]


def cross_check(cfg: Config, base_dir: Path | None) -> list[tuple[Loc, str]]:
    """Problems no single section can see. Returns (key path, message) pairs; empty when all is well."""
    problems: list[tuple[Loc, str]] = []
    w, h = cfg.camera.width, cfg.camera.height

    def outside(points) -> str | None:
        for x, y in points:
            if not (0 <= x <= w and 0 <= y <= h):
                return f"point ({x:g}, {y:g}) lies outside the {w}x{h} camera frame"
        return None

    if msg := outside(cfg.zones.floor):
        problems.append((("zones", "floor"), msg))
    for i, b in enumerate(cfg.zones.bins):
        if msg := outside(b.polygon):
            problems.append((("zones", "bins", i, "polygon"), msg))

    bin_ids: set[str] = set()
    for i, b in enumerate(cfg.zones.bins):
        if b.id in bin_ids:
            problems.append((("zones", "bins", i, "id"), f"duplicate bin id {b.id!r}"))
        bin_ids.add(b.id)

    seen: set[str] = set()
    for i, s in enumerate(cfg.sensors):
        if s.id in seen:
            problems.append((("sensors", i, "id"), f"duplicate sensor id {s.id!r}"))
        seen.add(s.id)
        if s.bin is not None and s.bin not in bin_ids:
            known = ", ".join(sorted(bin_ids)) or "none defined"
            problems.append((("sensors", i, "bin"), f"no zones.bins entry with id {s.bin!r} (known: {known})"))
    ports: dict[str, int] = {}
    for i, s in enumerate(cfg.sensors):  # only a jsonl co-processor port may serve several sensors
        if s.port is None:
            continue
        first = ports.setdefault(s.port, i)
        if first != i and (s.driver != "jsonl" or cfg.sensors[first].driver != "jsonl"):
            problems.append((("sensors", i, "port"), f"{s.port} is already used by sensor {cfg.sensors[first].id!r} "
                             "(only jsonl sensors may share a port)"))

    seen = set()
    for i, a in enumerate(cfg.actuators):
        if a.id in seen:
            problems.append((("actuators", i, "id"), f"duplicate actuator id {a.id!r}"))
        seen.add(a.id)

    http = cfg.uplink.http
    if http.enabled:
        if not http.token_file and not http.token_credential:
            problems.append((("uplink", "http"), "needs token_file or token_credential (the platform token)"))
        if http.token_file and not _exists(http.token_file, base_dir):
            problems.append((("uplink", "http", "token_file"), f"file not found: {http.token_file}"))
        if http.ca_file and not _exists(http.ca_file, base_dir):
            problems.append((("uplink", "http", "ca_file"), f"file not found: {http.ca_file}"))
    mqtt = cfg.uplink.mqtt
    if mqtt.enabled and mqtt.password_file and not _exists(mqtt.password_file, base_dir):
        problems.append((("uplink", "mqtt", "password_file"), f"file not found: {mqtt.password_file}"))
    return problems


def _exists(path: str, base_dir: Path | None) -> bool:
    p = Path(path).expanduser()
    if not p.is_absolute() and base_dir is not None:
        p = base_dir / p
    return p.is_file()
