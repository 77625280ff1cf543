"""What the agent tells the console and `gedge status` about itself (pure: no threads, no I/O).

    log = IncidentLog(restored=outbox.open_incidents())   # the incident thread: log.record(doc)
    state = build_state(cfg, agent=..., health=..., sensors=..., ...)  # the control thread

The control socket (edge.runtime.control) answers `state` with what `build_state` makes of the
snapshots the agent already keeps; this module decides its shape in one place.
"""
from __future__ import annotations

import threading
from collections import OrderedDict, deque
from typing import Any, Iterable, Mapping

RECENT_RESOLVED = 20  # resolved incidents kept for the console beside the open ones


class IncidentLog:
    """The open incidents and the last RECENT_RESOLVED resolved ones, newest revision of each.

    Written by the incident thread after every enqueued revision, read by the control thread:
    one small lock, held only to copy a few dicts."""

    def __init__(self, restored: Iterable[Mapping[str, Any]] = (), recent: int = RECENT_RESOLVED):
        self._lock = threading.Lock()
        self._open: OrderedDict[str, dict[str, Any]] = OrderedDict()
        self._resolved: deque[dict[str, Any]] = deque(maxlen=recent)
        for doc in restored:
            self.record(doc)

    def record(self, doc: Mapping[str, Any]) -> None:
        doc = dict(doc)
        with self._lock:
            if doc.get("state") == "open":
                self._open[doc["id"]] = doc
                return
            self._open.pop(doc["id"], None)
            for i, old in enumerate(self._resolved):  # a later revision of a resolved one replaces it
                if old["id"] == doc["id"]:
                    del self._resolved[i]
                    break
            self._resolved.append(doc)

    def snapshot(self) -> dict[str, list[dict[str, Any]]]:
        """{"open": oldest first, "recent": newest resolved first}."""
        with self._lock:
            return {"open": list(self._open.values()), "recent": list(reversed(self._resolved))}

    def find(self, incident_id: str) -> dict[str, Any] | None:
        with self._lock:
            doc = self._open.get(incident_id)
            if doc is None:
                doc = next((d for d in self._resolved if d["id"] == incident_id), None)
            return doc


def zones_view(cfg) -> dict[str, Any]:
    """The zones as the agent running on `cfg` uses them, with the frame size they are drawn in."""
    return {"frame": [cfg.camera.width, cfg.camera.height],
            "floor": [[float(x), float(y)] for x, y in cfg.zones.floor],
            "bins": [{"id": b.id, "polygon": [[float(x), float(y)] for x, y in b.polygon]} for b in cfg.zones.bins]}


def readings_view(cfg, snapshot: Mapping[str, Mapping[str, Any]], wall_minus_mono: float) -> list[dict[str, Any]]:
    """One entry per configured sensor: its last filtered reading (None before the first), the
    raw value it came from, the alarm state and the driver's status.

    snapshot: SensorManager.snapshot(); wall_minus_mono turns the readings' monotonic times into
    epoch seconds."""
    out = []
    for s in cfg.sensors:
        snap = snapshot.get(s.id, {})
        r = snap.get("reading")
        entry: dict[str, Any] = {
            "id": s.id, "kind": s.kind, "driver": s.driver, "bin": s.bin, "gas": s.gas,
            "state": snap.get("state", "starting"), "status": snap.get("status"),
            "quantity": None, "value": None, "raw": None, "unit": None, "t": None,
        }
        if s.kind == "fill":
            entry.update(empty_mm=s.empty_mm, full_mm=s.full_mm, fill_pct=None)
        if r is not None:
            entry.update(quantity=r.quantity, value=r.value, raw=r.raw, unit=r.unit,
                         t=round(r.t + wall_minus_mono, 3))
            if s.kind == "fill":
                entry["fill_pct"] = r.value
        out.append(entry)
    return out


def relays_view(cfg, controllers: Iterable[Any]) -> list[dict[str, Any]]:
    by_id = {c.id: c for c in controllers}
    out = []
    for a in cfg.actuators:
        c = by_id.get(a.id)
        out.append({"id": a.id, "driver": a.driver, "on_while": a.on_while, "hold_s": a.hold_s,
                    "min_off_s": a.min_off_s, "on": bool(c.is_on) if c is not None else False,
                    "reason": c.reason if c is not None else None})
    return out


def build_state(cfg, *, agent: Mapping[str, Any], health: Mapping[str, Any], camera: Mapping[str, Any],
                readings: list[dict[str, Any]], relays: list[dict[str, Any]],
                incidents: Mapping[str, list], outbox: Mapping[str, Any], now: float) -> dict[str, Any]:
    """The `state` answer. No secret goes in: the camera source is passed in redacted, and the
    uplink block carries counts and errors, never a token or password."""
    site = cfg.device.site
    return {
        "time": now,
        "device": {"id": cfg.device.id, "timezone": cfg.device.timezone, "ui_lang": cfg.device.ui_lang,
                   "site": {"community": site.community, "address": site.address, "point_id": site.point_id}},
        "agent": dict(agent),
        "health": dict(health),
        "camera": dict(camera),
        "readings": readings,
        "relays": relays,
        "zones": zones_view(cfg),
        "incidents": {"open": list(incidents.get("open", [])), "recent": list(incidents.get("recent", []))},
        "outbox": dict(outbox),
    }
