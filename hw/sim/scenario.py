"""Scenario timelines for the simulated garbage room.

A scenario is a YAML file: what happens in the room and when (people entering with bags,
dropping them on the floor or into bins, a cleaner taking them away, the light changing),
the rules the agent runs under (to work out which incidents it should raise), and
optional sensor keyframes for the simulated fill-level and odor sensors.

Positions are pixels of the default 640x480 layout (bottom-centre of a bag or of a
person's feet); the renderer scales them to other frame sizes.
"""
from __future__ import annotations

import math
import random
import zlib
from bisect import bisect_right
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ruamel.yaml import YAML

SCENARIO_DIR = Path(__file__).resolve().parent / "scenarios"

BASE_W, BASE_H = 640, 480
# The default room: floor zone and bins, matching the zones of the shipped default config.
DEFAULT_FLOOR = [(0.0, 260.0), (640.0, 260.0), (640.0, 480.0), (0.0, 480.0)]
DEFAULT_BINS: list[dict[str, Any]] = [
    {"id": "bin-1", "kind": "wet", "box": (60.0, 170.0, 180.0, 330.0)},
    {"id": "bin-2", "kind": "dry", "box": (200.0, 170.0, 320.0, 330.0)},
    {"id": "bin-3", "kind": "recyclable", "box": (340.0, 170.0, 460.0, 330.0)},
]
DEFAULT_RULES = {"remind_after_s": 3.0, "incident_after_s": 60.0, "clear_after_s": 10.0, "same_place_px": 160.0}
BAG_KINDS = ("black_bag", "white_bag", "grey_bag", "blue_bag", "green_bag", "red_shopping_bag",
             "yellow_shopping_bag", "blue_shopping_bag", "white_shopping_bag", "paper_bag", "box")
# things left on the floor that are no garbage bag: the detector has no class for them and the
# ground truth gives them no box (only the static-object finder can see them)
UNKNOWN_KINDS = ("carton", "chair")
BIN_KINDS = ("wet", "dry", "recyclable", "hazardous")
WALK_PX_S = 110.0  # walking speed in default-layout pixels per second
INTO_BIN_S = 0.8  # how long a bag takes from the hand into the bin


class ScenarioError(ValueError):
    """A scenario file that cannot be used; the message names the problem."""


@dataclass
class _Segment:
    t0: float
    t1: float
    p0: tuple[float, float]
    p1: tuple[float, float]


@dataclass
class Actor:
    id: str
    role: str = "resident"
    segments: list[_Segment] = field(default_factory=list)
    t_enter: float = 0.0
    t_exit: float = math.inf

    def position(self, t: float) -> tuple[float, float]:
        seg = self.segments[0]
        for s in self.segments:
            if s.t0 <= t:
                seg = s
            else:
                break
        if t >= seg.t1 or seg.t1 <= seg.t0:
            return seg.p1 if t >= seg.t0 else seg.p0
        a = (t - seg.t0) / (seg.t1 - seg.t0)
        return (seg.p0[0] + a * (seg.p1[0] - seg.p0[0]), seg.p0[1] + a * (seg.p1[1] - seg.p0[1]))

    def walking(self, t: float) -> tuple[bool, float]:
        """(is walking, signed x direction) at t."""
        for s in self.segments:
            if s.t0 <= t < s.t1 and s.p0 != s.p1:
                return True, math.copysign(1.0, s.p1[0] - s.p0[0]) if s.p1[0] != s.p0[0] else 0.0
        return False, 0.0

    def present(self, t: float) -> bool:
        return self.t_enter <= t < self.t_exit

    def end_position(self) -> tuple[float, float]:
        return self.segments[-1].p1


@dataclass
class Bag:
    id: str
    kind: str
    # (t_from, state, data): state carried (actor id) | floor ((x, y)) | into_bin ((bin id, from xy)) | gone
    states: list[tuple[float, str, Any]] = field(default_factory=list)

    def state(self, t: float) -> tuple[str, Any, float]:
        times = [s[0] for s in self.states]
        i = bisect_right(times, t) - 1
        if i < 0:
            return "absent", None, 0.0
        return self.states[i][1], self.states[i][2], self.states[i][0]


@dataclass
class Scenario:
    name: str
    description: str
    duration_s: float
    rules: dict[str, float]
    actors: dict[str, Actor]
    bags: dict[str, Bag]
    bins: list[dict[str, Any]]
    floor: list[tuple[float, float]]
    lighting: list[tuple[float, float]]  # (t, gain) keyframes
    sensors: dict[str, list[tuple[float, float]]]
    lid_open: dict[str, list[float]]  # bin id -> times a bag went in (lid open briefly)
    # bin id -> (t, (dx, dy)) keyframes: a bin pulled out of its place (collection) and put back
    bin_moves: dict[str, list[tuple[float, tuple[float, float]]]] = field(default_factory=dict)
    source: Path | None = None
    # the camera's driver stops returning frames at this time (the twin of a hung V4L2/RTSP read)
    camera_hang_s: float | None = None
    # per sensor: the standard deviation of its reading noise (its unit), and [t0, t1) spans without readings
    sensor_noise: dict[str, float] = field(default_factory=dict)
    sensor_gaps: dict[str, list[tuple[float, float]]] = field(default_factory=dict)
    # per sensor: (t, seconds, value) spans that read `value` instead (a bin lid swinging through the beam)
    sensor_spikes: dict[str, list[tuple[float, float, float]]] = field(default_factory=dict)

    def sensor_value(self, sensor_id: str, t: float) -> float | None:
        """The simulated sensor's value at t (linear between keyframes, plus its noise), or None
        if the scenario has no such sensor or the sensor gives nothing at t (a gap)."""
        v = _interp(self.sensors.get(sensor_id), t)
        if v is None or any(t0 <= t < t1 for t0, t1 in self.sensor_gaps.get(sensor_id, ())):
            return None
        for t0, span, value in self.sensor_spikes.get(sensor_id, ()):
            if t0 <= t < t0 + span:
                v = value
        sigma = self.sensor_noise.get(sensor_id)
        if sigma:  # deterministic for (sensor, t): the same scenario reads the same every run
            v += random.Random(zlib.crc32(f"{sensor_id}@{t:.3f}".encode())).gauss(0.0, sigma)
        return v

    def light(self, t: float) -> float:
        return _interp(self.lighting, t) or 1.0

    def bin_polygons(self) -> dict[str, list[tuple[float, float]]]:
        return {b["id"]: _box_poly(b["box"]) for b in self.bins}

    def bin_offset(self, bin_id: str, t: float) -> tuple[float, float]:
        """How far the bin stands from its place at t (linear between keyframes)."""
        keys = self.bin_moves.get(bin_id)
        if not keys:
            return (0.0, 0.0)
        dx = _interp([(k, v[0]) for k, v in keys], t) or 0.0
        dy = _interp([(k, v[1]) for k, v in keys], t) or 0.0
        return (dx, dy)

    def expected_incidents(self) -> list[dict[str, Any]]:
        return expected_incidents(self)


def _interp(keys: list[tuple[float, float]] | None, t: float) -> float | None:
    if not keys:
        return None
    if t <= keys[0][0]:
        return float(keys[0][1])
    for (t0, v0), (t1, v1) in zip(keys, keys[1:]):
        if t0 <= t <= t1:
            return float(v0 if t1 == t0 else v0 + (v1 - v0) * (t - t0) / (t1 - t0))
    return float(keys[-1][1])


def _box_poly(box) -> list[tuple[float, float]]:
    x1, y1, x2, y2 = box
    return [(x1, y1), (x2, y1), (x2, y2), (x1, y2)]


def point_in_polygon(pt: tuple[float, float], poly: list[tuple[float, float]]) -> bool:
    x, y = pt
    inside = False
    n = len(poly)
    for i in range(n):
        x1, y1 = poly[i]
        x2, y2 = poly[(i + 1) % n]
        if (y1 > y) != (y2 > y):
            xi = x1 + (y - y1) * (x2 - x1) / (y2 - y1)
            if x < xi:
                inside = not inside
    return inside


def list_scenarios() -> list[str]:
    """Names of the bundled scenarios."""
    return sorted(p.stem for p in SCENARIO_DIR.glob("*.yaml"))


def load_scenario(name_or_path: str | Path) -> Scenario:
    """A bundled scenario by name, or a scenario YAML file by path."""
    p = Path(name_or_path)
    if not p.suffix and not p.exists():
        p = SCENARIO_DIR / f"{name_or_path}.yaml"
        if not p.is_file():
            raise ScenarioError(f"no bundled scenario {str(name_or_path)!r}; bundled: {', '.join(list_scenarios())}")
    if not p.is_file():
        raise ScenarioError(f"scenario file not found: {p}")
    try:
        data = YAML(typ="safe").load(p.read_text(encoding="utf-8"))
    except Exception as exc:  # ruamel raises many types; one clear line is what the user needs
        mark = getattr(exc, "problem_mark", None)
        what = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ScenarioError(f"{p}: not valid YAML: {what}" + (f" (line {mark.line + 1})" if mark else "")) from None
    if not isinstance(data, dict):
        raise ScenarioError(f"{p}: expected a mapping at the top level")
    sc = build_scenario(data, default_name=p.stem)
    sc.source = p
    return sc


def _pt(v: Any, where: str) -> tuple[float, float]:
    if isinstance(v, (list, tuple)) and len(v) == 2 and all(isinstance(a, (int, float)) for a in v):
        return float(v[0]), float(v[1])
    raise ScenarioError(f"{where}: expected a point [x, y], got {v!r}")


def _edge_point(side: Any, near: tuple[float, float], where: str) -> tuple[float, float]:
    if side in (None, "right"):
        return (BASE_W + 60.0, max(near[1], 300.0))
    if side == "left":
        return (-60.0, max(near[1], 300.0))
    if side == "front":
        return (near[0], BASE_H + 120.0)
    return _pt(side, where)


def build_scenario(data: dict[str, Any], default_name: str = "scenario") -> Scenario:
    """A Scenario from parsed YAML (see docs/simulator.md for the format). Raises ScenarioError."""
    part = ["top level"]  # the part being read, so a wrong value of any type is reported where it is
    try:
        return _build_scenario(data, default_name, part)
    except ScenarioError:
        raise
    except (TypeError, ValueError, AttributeError, KeyError) as exc:
        raise ScenarioError(f"{part[0]}: unexpected value ({type(exc).__name__}: {exc})") from None


def _build_scenario(data: dict[str, Any], default_name: str, part: list[str]) -> Scenario:
    unknown = set(data) - {"name", "description", "duration_s", "rules", "timeline", "sensors", "bins", "lighting",
                      "camera_hang_s", "sensor_noise", "sensor_gaps", "sensor_spikes"}
    if unknown:
        raise ScenarioError(f"unknown top-level keys: {', '.join(sorted(unknown))}")
    name = str(data.get("name", default_name))
    try:
        duration = float(data.get("duration_s", 60))
    except (TypeError, ValueError):
        raise ScenarioError("duration_s: expected a number of seconds") from None
    if duration <= 0:
        raise ScenarioError("duration_s: must be positive")
    part[0] = "rules"
    rules = dict(DEFAULT_RULES)
    for k, v in (data.get("rules") or {}).items():
        if k not in DEFAULT_RULES:
            raise ScenarioError(f"rules.{k}: unknown rule (known: {', '.join(DEFAULT_RULES)})")
        rules[k] = float(v)
    part[0] = "bins"
    bins = [dict(b) for b in DEFAULT_BINS]
    if data.get("bins") is not None:
        bins = []
        for i, b in enumerate(data["bins"]):
            part[0] = f"bins[{i}]"
            kind = b.get("kind", "dry")
            if kind not in BIN_KINDS:
                raise ScenarioError(f"bins[{i}].kind: one of {', '.join(BIN_KINDS)}")
            box = b.get("box")
            if not (isinstance(box, (list, tuple)) and len(box) == 4):
                raise ScenarioError(f"bins[{i}].box: expected [x1, y1, x2, y2]")
            bins.append({"id": str(b.get("id", f"bin-{i + 1}")), "kind": kind, "box": tuple(float(v) for v in box)})
    part[0] = "sensors"
    sensors: dict[str, list[tuple[float, float]]] = {}
    for sid, keys in (data.get("sensors") or {}).items():
        try:
            sensors[str(sid)] = sorted((float(a), float(b)) for a, b in keys)
        except (TypeError, ValueError):
            raise ScenarioError(f"sensors.{sid}: expected a list of [t, value] pairs") from None
    part[0] = "sensor_noise"
    noise = {str(k): float(v) for k, v in (data.get("sensor_noise") or {}).items()}
    part[0] = "sensor_gaps"
    gaps = {str(k): sorted((float(a), float(b)) for a, b in v) for k, v in (data.get("sensor_gaps") or {}).items()}
    part[0] = "sensor_spikes"
    spikes = {str(k): sorted((float(a), float(b), float(c)) for a, b, c in v)
              for k, v in (data.get("sensor_spikes") or {}).items()}
    part[0] = "lighting"
    lighting: list[tuple[float, float]] = [(0.0, 1.0)]
    if data.get("lighting") is not None:
        lighting = sorted((float(a), float(b)) for a, b in data["lighting"])

    actors: dict[str, Actor] = {}
    bags: dict[str, Bag] = {}
    carrying: dict[str, str | None] = {}
    lid_open: dict[str, list[float]] = {}
    bin_moves: dict[str, list[tuple[float, tuple[float, float]]]] = {}
    bin_ids = {b["id"]: b for b in bins}
    auto = 0

    def new_bag(kind: Any, where: str, bag_id: Any = None) -> Bag:
        nonlocal auto
        kind = str(kind)
        if kind not in BAG_KINDS + UNKNOWN_KINDS:
            raise ScenarioError(f"{where}: unknown bag kind {kind!r} (known: {', '.join(BAG_KINDS + UNKNOWN_KINDS)})")
        auto += 1
        bid = str(bag_id) if bag_id is not None else f"bag{auto}"
        if bid in bags:
            raise ScenarioError(f"{where}: bag {bid!r} already exists")
        bag = Bag(bid, kind)
        bags[bid] = bag
        return bag

    def move(actor: Actor, t: float, to: tuple[float, float], speed: float) -> float:
        p0 = actor.position(t)
        # a new move cuts short a walk still in progress
        last = actor.segments[-1]
        if last.t1 > t:
            last.t1, last.p1 = t, p0
        dist = math.hypot(to[0] - p0[0], to[1] - p0[1])
        t1 = t + dist / speed
        actor.segments.append(_Segment(t, t1, p0, to))
        return t1

    events = data.get("timeline") or []
    if not isinstance(events, list):
        raise ScenarioError("timeline: expected a list of events")
    indexed = []
    for i, ev in enumerate(events):
        part[0] = f"timeline[{i}]"
        if not isinstance(ev, dict) or "t" not in ev or "action" not in ev:
            raise ScenarioError(f"timeline[{i}]: each event needs `t` and `action`")
        indexed.append((float(ev["t"]), i, ev))
    indexed.sort(key=lambda e: (e[0], e[1]))
    for t, i, ev in indexed:
        where = part[0] = f"timeline[{i}] (t={t:g}, {ev['action']})"
        action = ev["action"]
        aid = str(ev.get("actor", "")) if ev.get("actor") is not None else None
        speed = float(ev.get("speed", WALK_PX_S))
        if not speed > 0:
            raise ScenarioError(f"{where}: speed must be positive")
        if action == "enter":
            if not aid:
                raise ScenarioError(f"{where}: needs `actor`")
            if aid in actors and actors[aid].present(t):
                raise ScenarioError(f"{where}: actor {aid!r} is already in the room")
            to = _pt(ev.get("to", [320, 400]), where)
            start = _edge_point(ev.get("from", "right"), to, where)
            actor = Actor(aid, role=str(ev.get("role", "resident")), t_enter=t)
            actor.segments.append(_Segment(t, t, start, start))
            move(actor, t, to, speed)
            actors[aid] = actor
            carrying[aid] = None
            if ev.get("carrying"):
                bag = new_bag(ev["carrying"], where, ev.get("bag"))
                bag.states.append((t, "carried", aid))
                carrying[aid] = bag.id
        elif action in ("walk", "leave", "drop", "into_bin", "pick_up", "stand"):
            if not aid or aid not in actors or not actors[aid].present(t):
                raise ScenarioError(f"{where}: actor {aid!r} is not in the room")
            actor = actors[aid]
            if action == "walk":
                move(actor, t, _pt(ev.get("to"), where), speed)
            elif action == "leave":
                pos = actor.position(t)
                side = ev.get("to", "right" if pos[0] >= BASE_W / 2 else "left")
                actor.t_exit = move(actor, t, _edge_point(side, pos, where), speed)
            elif action == "drop":
                bid = carrying.get(aid)
                if not bid:
                    raise ScenarioError(f"{where}: actor {aid!r} carries no bag")
                pos = actor.position(t)
                at = _pt(ev["at"], where) if "at" in ev else (pos[0] + 28.0, pos[1] + 6.0)
                bags[bid].states.append((t, "floor", at))
                carrying[aid] = None
            elif action == "into_bin":
                bid = carrying.get(aid)
                if not bid:
                    raise ScenarioError(f"{where}: actor {aid!r} carries no bag")
                target = str(ev.get("bin", ""))
                if target not in bin_ids:
                    raise ScenarioError(f"{where}: unknown bin {target!r} (bins: {', '.join(bin_ids)})")
                bags[bid].states.append((t, "into_bin", (target, aid)))
                bags[bid].states.append((t + INTO_BIN_S, "gone", target))
                lid_open.setdefault(target, []).append(t)
                carrying[aid] = None
            elif action == "pick_up":
                bid = str(ev.get("bag", ""))
                if bid not in bags:
                    raise ScenarioError(f"{where}: unknown bag {bid!r}")
                if carrying.get(aid):
                    raise ScenarioError(f"{where}: actor {aid!r} already carries a bag")
                bags[bid].states.append((t, "carried", aid))
                carrying[aid] = bid
        elif action == "place":
            bag = new_bag(ev.get("kind", "black_bag"), where, ev.get("bag"))
            bag.states.append((t, "floor", _pt(ev.get("at"), where)))
        elif action == "remove":
            bid = str(ev.get("bag", ""))
            if bid not in bags:
                raise ScenarioError(f"{where}: unknown bag {bid!r}")
            bags[bid].states.append((t, "gone", None))
        elif action == "move_bin":
            target = str(ev.get("bin", ""))
            if target not in bin_ids:
                raise ScenarioError(f"{where}: unknown bin {target!r} (bins: {', '.join(bin_ids)})")
            off = _pt(ev.get("by", [0, 0]), where)  # from its place; [0, 0] puts it back
            over = float(ev.get("over_s", 2.0))
            keys = bin_moves.setdefault(target, [(0.0, (0.0, 0.0))])
            keys.append((t, keys[-1][1]))
            keys.append((t + max(over, 1e-3), off))
        elif action == "light":
            level = float(ev.get("level", 1.0))
            over = float(ev.get("over_s", 0.0))
            lighting = [k for k in lighting if k[0] < t]
            lighting.append((t, _interp(lighting, t) or 1.0))
            lighting.append((t + max(over, 1e-3), level))
        else:
            raise ScenarioError(
                f"{where}: unknown action (known: enter, walk, stand, drop, into_bin, pick_up, leave, place, remove, "
                "move_bin, light)"
            )
    for b in bags.values():
        b.states.sort(key=lambda s: s[0])
    sc = Scenario(name, str(data.get("description", "")), duration, rules, actors, bags, bins,
                  list(DEFAULT_FLOOR), lighting, sensors, lid_open, bin_moves=bin_moves, sensor_noise=noise,
                  sensor_gaps=gaps, sensor_spikes=spikes)
    if data.get("camera_hang_s") is not None:
        try:
            sc.camera_hang_s = float(data["camera_hang_s"])
        except (TypeError, ValueError):
            raise ScenarioError("camera_hang_s: expected seconds") from None
    return sc


def expected_incidents(sc: Scenario) -> list[dict[str, Any]]:
    """The bag_outside_bin incidents an agent running the scenario's rules should raise.

    A bag lying on the floor zone outside every bin polygon from t_drop to t_removed counts.
    Bags in one place (within `same_place_px`) whose times overlap are one incident with a count.
    The incident opens at the first bag's t_drop + incident_after_s (if the place is still
    occupied then) and resolves at the last removal + clear_after_s; `resolve_s` is null
    when that is after the end of the clip.
    """
    r = sc.rules
    bins = list(sc.bin_polygons().values())
    spans: list[tuple[float, float, tuple[float, float]]] = []
    for bag in sc.bags.values():
        for (t0, state, data), nxt in zip(bag.states, bag.states[1:] + [(math.inf, "end", None)]):
            if state != "floor":
                continue
            if point_in_polygon(data, sc.floor) and not any(point_in_polygon(data, p) for p in bins):
                spans.append((t0, nxt[0], data))
    spans.sort()
    # group into places: overlapping (or within clear_after_s) spans near each other
    groups: list[dict[str, Any]] = []
    for t0, t1, pos in spans:
        for g in groups:
            near = any(math.dist(pos, p) <= r["same_place_px"] for p in g["points"])
            if near and t0 <= g["t1"] + r["clear_after_s"]:
                g["t1"] = max(g["t1"], t1)
                g["points"].append(pos)
                g["spans"].append((t0, t1))
                break
        else:
            groups.append({"t0": t0, "t1": t1, "points": [pos], "spans": [(t0, t1)]})
    out = []
    for g in groups:
        if g["t1"] - g["t0"] < r["incident_after_s"]:
            continue
        open_s = g["t0"] + r["incident_after_s"]
        if open_s > sc.duration_s:
            continue
        resolve = g["t1"] + r["clear_after_s"]
        count = max(sum(1 for a, b in g["spans"] if a <= t < b) for t, _ in g["spans"])
        xs = [p[0] for p in g["points"]]
        ys = [p[1] for p in g["points"]]
        out.append({
            "type": "bag_outside_bin",
            "zone": "floor",
            "open_s": round(open_s, 3),
            "resolve_s": round(resolve, 3) if resolve <= sc.duration_s else None,
            "count": count,
            "place": [round(sum(xs) / len(xs), 1), round(sum(ys) / len(ys), 1)],
            "remind_s": round(g["t0"] + r["remind_after_s"], 3),
        })
    out.sort(key=lambda d: d["open_s"])
    return out
