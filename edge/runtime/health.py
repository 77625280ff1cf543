"""What the agent says about itself: the health block of telemetry and of `STATUS=` (pure).

The agent gathers each part's own snapshot (sensors, voice worker, relays, outbox disk state)
and this module shapes them into the contract's `health` block, so what the platform sees is
decided in one place and tested without threads.
"""
from __future__ import annotations

from typing import Any, Mapping

# what the sensor drivers and the voice worker count that the platform sees in telemetry
SENSOR_COUNTERS = ("garbled", "reconnects", "losses", "errors")
VOICE_HEALTH = ("played", "failed", "dropped", "stale", "killed", "render_failed", "last_error")


def assemble_health(*, uptime_s: float, camera: str, sensors: Mapping[str, Mapping[str, Any]],
                    voice: Mapping[str, Any], relays: Mapping[str, bool], open_incidents: int,
                    dropped_events: int, disk_free_mb: float | None, cpu_temp_c: float | None,
                    storage: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """sensors: SensorManager.snapshot(); voice: the worker's health(); storage: Outbox.storage()."""
    health: dict[str, Any] = {
        "uptime_s": round(uptime_s),
        "camera": camera,
        "sensors": {sid: s.get("state", "unknown") for sid, s in sensors.items()},
        # a bad cable shows as garbled frames and reconnects long before a sensor_fault
        "sensor_counters": {sid: {k: v for k, v in s.get("stats", {}).items() if k in SENSOR_COUNTERS}
                            for sid, s in sensors.items()},
        "voice": {k: voice.get(k) for k in VOICE_HEALTH if k in voice},
        "relays": dict(relays),
        "open_incidents": open_incidents,
        "dropped_events": dropped_events,
        "disk_free_mb": disk_free_mb,
        "cpu_temp_c": cpu_temp_c,
    }
    if storage is not None:
        # why incidents may be late: the disk refuses writes and revisions wait in memory
        health["storage"] = {"ok": not storage.get("error") and not storage.get("damaged"),
                             "error": storage.get("error") or storage.get("damaged"),
                             "held_revisions": storage.get("held_revisions", 0),
                             "held_dropped": storage.get("held_dropped", 0)}
    return health


def summary_line(camera: str, sensors: int, open_incidents: int, pending: int, dead: int,
                 storage_error: str | None = None) -> str:
    """One short line for systemd's STATUS=."""
    line = (f"camera {camera}, {sensors} sensor(s), {open_incidents} open incident(s), "
            f"outbox {pending} pending / {dead} dead")
    return line + (f"; storage: {storage_error}" if storage_error else "")
