"""The whole configuration: one typed model per section, plus the checks that span sections."""
from __future__ import annotations

from pathlib import Path

from pydantic import Field

from ..i18n import _
from .base import Section
from .sensors import EmptiedRule, FullRule, OdorRule, Sensor
from .site import Device, Schedule, Storage
from .stats import Stats
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
    stats: Stats = Stats()


Loc = tuple[str | int, ...]


def cross_check(cfg: Config, base_dir: Path | None) -> list[tuple[Loc, str]]:
    """Problems no single section can see. Returns (key path, message) pairs; empty when all is well."""
    problems: list[tuple[Loc, str]] = []
    w, h = cfg.camera.width, cfg.camera.height

    def outside(points) -> str | None:
        for x, y in points:
            if not (0 <= x <= w and 0 <= y <= h):
                return _("point ({x:g}, {y:g}) lies outside the {width}x{height} camera frame").format(x=x, y=y, width=w, height=h)
        return None

    if msg := outside(cfg.zones.floor):
        problems.append((("zones", "floor"), msg))
    for i, b in enumerate(cfg.zones.bins):
        if msg := outside(b.polygon):
            problems.append((("zones", "bins", i, "polygon"), msg))

    bin_ids: set[str] = set()
    for i, b in enumerate(cfg.zones.bins):
        if b.id in bin_ids:
            problems.append((("zones", "bins", i, "id"), _("duplicate bin id {id!r}").format(id=b.id)))
        bin_ids.add(b.id)

    seen: set[str] = set()
    for i, s in enumerate(cfg.sensors):
        if s.id in seen:
            problems.append((("sensors", i, "id"), _("duplicate sensor id {id!r}").format(id=s.id)))
        seen.add(s.id)
        if s.bin is not None and s.bin not in bin_ids:
            known = ", ".join(sorted(bin_ids)) or "none defined"
            problems.append((("sensors", i, "bin"), _("no zones.bins entry with id {bin!r} (known: {known})").format(bin=s.bin, known=known)))
    ports: dict[str, int] = {}
    for i, s in enumerate(cfg.sensors):  # only a jsonl co-processor port may serve several sensors
        if s.port is None:
            continue
        first = ports.setdefault(s.port, i)
        if first != i and (s.driver != "jsonl" or cfg.sensors[first].driver != "jsonl"):
            problems.append((("sensors", i, "port"), _("{port} is already used by sensor {id!r} "
                                                       "(only jsonl sensors may share a port)").format(port=s.port, id=cfg.sensors[first].id)))

    for bin_id in cfg.stats.collection.schedule:  # a schedule for a bin the box does not know is a typo
        if bin_id not in bin_ids:
            known = ", ".join(sorted(bin_ids)) or "none defined"
            problems.append((("stats", "collection", "schedule", bin_id),
                             _("no zones.bins entry with id {bin!r} (known: {known})").format(bin=bin_id, known=known)))

    seen = set()
    for i, a in enumerate(cfg.actuators):
        if a.id in seen:
            problems.append((("actuators", i, "id"), _("duplicate actuator id {id!r}").format(id=a.id)))
        seen.add(a.id)

    http = cfg.uplink.http
    if http.enabled:
        if not http.token_file and not http.token_credential:
            problems.append((("uplink", "http"), _("needs token_file or token_credential (the platform token)")))
        if http.token_file and not _exists(http.token_file, base_dir):
            problems.append((("uplink", "http", "token_file"), _("file not found: {token_file}").format(token_file=http.token_file)))
        if http.ca_file and not _exists(http.ca_file, base_dir):
            problems.append((("uplink", "http", "ca_file"), _("file not found: {ca_file}").format(ca_file=http.ca_file)))
    mqtt = cfg.uplink.mqtt
    if mqtt.enabled and mqtt.password_file and not _exists(mqtt.password_file, base_dir):
        problems.append((("uplink", "mqtt", "password_file"), _("file not found: {password_file}").format(password_file=mqtt.password_file)))
    return problems


def missing_files(cfg: Config, base_dir: Path) -> list[tuple[Loc, str]]:
    """Files the agent needs at start that are not there (`config validate` checks them; doctor and
    `gedge run` report the same at their own step)."""
    from ..paths import resolve_resource

    problems: list[tuple[Loc, str]] = []
    named = [(("vision", "model"), cfg.vision.model)]
    if cfg.vision.verifier.model:  # "" is the verifier turned off
        named.append((("vision", "verifier", "model"), cfg.vision.verifier.model))
    for loc, path in named:
        if not resolve_resource(path, base_dir).exists():
            problems.append((loc, _("model file not found: {path} (looked beside the config "
                                    "and among the installed files)").format(path=path)))
    return problems


def simulated_parts(cfg: Config) -> list[tuple[Loc, str]]:
    """The parts of a config that are the simulated room's twins (a `sim:` camera, `sim` sensors).

    A box must never report the simulated room's made-up incidents to the city, so `gedge run`
    starts on these only when asked to simulate (`--simulation`, or `gedge demo`)."""
    parts: list[tuple[Loc, str]] = []
    if cfg.camera.source.strip().startswith("sim:"):
        parts.append((("camera", "source"), cfg.camera.source))
    for i, s in enumerate(cfg.sensors):
        if s.driver == "sim":
            parts.append((("sensors", i, "driver"), f"{s.id}: sim"))
    return parts


def refuse_simulation(cfg: Config, path: Path | str) -> None:
    """Raise ConfigError naming each simulated part, for a start that was not asked to simulate."""
    from .loader import ConfigError, format_loc  # the loader imports this module

    parts = simulated_parts(cfg)
    if parts:
        lines = [_("{path}: {key} is simulated ({what}): a box must not report the simulated room's incidents")
                 .format(path=path, key=format_loc(loc), what=what) for loc, what in parts]
        lines.append(_("set the real camera and sensors (docs/install.md), or start with --simulation "
                       "to run on the simulated room on purpose"))
        raise ConfigError(lines)


def _exists(path: str, base_dir: Path | None) -> bool:
    from ..files import config_relative

    return config_relative(path, base_dir).is_file()
