"""A simulated day in simulated time: a scenario's fill-sensor keyframes through the real sensor
pipelines, the runtime's router and the statistics, in seconds instead of a day.

    result = replay_day(cfg, "day_of_collection", start=midnight_epoch, state_dir=tmp,
                        restarts=[15 * 3600])          # agent restarts (30 s down each)
    result.incidents        # every incident revision the router made, in order
    result.stats.document("2026-11-28")   # the service is closed: its state is on disk

What runs is the product's own code with `now` as an argument: `SensorPipeline` (filters, fill
%, bin_full / bin_emptied / sensor_fault), `Router.alarm`, `StatsService` (accounting, series,
collection supervision, state on disk). Scenario time 0 is `start`; a sample is taken every
`step_s`. A restart closes the service (its state goes to disk), leaves `down_s` without
readings and builds everything afresh from the disk, restored incidents included.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterable

from hw.sensors.protocols import Sample

from ..runtime.router import Router
from ..sensing.pipeline import SensorPipeline
from .series import SeriesStore
from .service import StatsService


class _Silent:
    """The voice policy's place in the router: a replay speaks nothing."""

    def decide(self, *a, **kw):
        return None

    def reminders_for(self, key: str) -> int:
        return 0

    def incident_closed(self, key: str) -> None:
        pass


@dataclass
class ReplayResult:
    stats: StatsService
    incidents: list[dict[str, Any]] = field(default_factory=list)
    alarms: list[Any] = field(default_factory=list)


def replay_day(cfg, scenario: str | Path, start: float, state_dir: Path, step_s: float = 5.0,
               restarts: Iterable[float] = (), down_s: float = 30.0, until_s: float | None = None,
               outbox: Any = None) -> ReplayResult:
    from hw.sim import load_scenario

    sc = load_scenario(scenario)
    fill = [s for s in cfg.sensors if s.kind == "fill" and sc.sensor_value(s.id, 0.0) is not None]
    restart_at = sorted(restarts)
    end = sc.duration_s if until_s is None else until_s
    state_dir = Path(state_dir)
    state_dir.mkdir(parents=True, exist_ok=True)
    open_docs: dict[str, dict] = {}
    result: ReplayResult | None = None

    def build(now: float):
        restored = list(open_docs.values())
        series = SeriesStore(state_dir / "series.sqlite")
        stats = StatsService(cfg, outbox, restored, series, path=state_dir / "stats.json")
        stats.save_s = 3600.0  # simulated time: a save a simulated minute would be 1440 fsyncs a day
        router = Router(cfg, _Silent(), {}, restored=restored)
        pipes = [SensorPipeline(s, cfg.rules, now) for s in fill]
        return stats, router, pipes

    def carry(decisions) -> None:
        for doc in decisions.revisions:
            result.incidents.append(doc)
            if doc["state"] == "open":
                open_docs[doc["id"]] = doc
            else:
                open_docs.pop(doc["id"], None)
            if outbox is not None:
                outbox.enqueue_incident(doc)

    stats, router, pipes = build(start)
    result = ReplayResult(stats)
    t = 0.0
    while t <= end:
        now = start + t
        if restart_at and t >= restart_at[0]:
            restart_at.pop(0)
            stats.close(now)
            t += down_s
            now = start + t
            stats, router, pipes = build(now)
            result.stats = stats
        for p in pipes:
            v = sc.sensor_value(p.sensor.id, t)
            readings, events = p.feed(Sample("distance_mm", round(v, 1), "replay"), now) if v is not None else ([], [])
            more_r, more_e = p.tick(now)
            for r in readings + more_r:
                stats.reading(r, now)
            for ev in events + more_e:
                result.alarms.append(ev)
                stats.alarm(ev, now)
                carry(router.alarm(ev, now, now))
        for ev in stats.tick(now, camera_ok=True):
            result.alarms.append(ev)
            carry(router.alarm(ev, now, now))
        t += step_s
    stats.close(start + end)  # the day's last minutes to disk, as an agent stopping would
    return result
