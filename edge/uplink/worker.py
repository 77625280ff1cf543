"""The uplink worker: drains the outbox to the platform, one thread per transport.

    outbox = Outbox.from_config(cfg)
    uplink = Uplink.from_config(cfg, outbox, snapshots=SnapshotStore.from_config(cfg), base_dir=cfg_dir)
    uplink.start()            # wakes by itself on every outbox enqueue
    ...
    uplink.health()           # {"pending", "dead_letters", "last_ok", "last_error", "destinations": {...}}
    uplink.stop()

Per transport: the oldest queued item goes first (so revisions of an incident go out in the
order they were made, and a snapshot after its incident was accepted). A temporary failure
blocks that transport's queue for the backoff delay (1 s doubling to the cap, with jitter,
at least the server's Retry-After); a permanent one moves the item to the dead letters and
the queue goes on. Telemetry goes when no incident is waiting, newest first.
Delivered items are removed in small batches (one fsync per batch); a crash in between
only means the platform sees the same (id, rev) again.
"""
from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any, Callable, Protocol

from ..incidents.snapshots import SnapshotStore
from ..logfmt import recovered_line, retry_line
from ..outbox import Item, Outbox, OutboxDamaged
from .retry import Outcome, RetrySchedule

log = logging.getLogger(__name__)


class Transport(Protocol):
    name: str

    def start(self) -> None: ...

    def stop(self) -> None: ...

    def send(self, kind: str, incident_id: str | None, body: bytes) -> Outcome: ...


class _Lane:
    """One transport's state (touched only by its thread, read by health())."""

    def __init__(self, transport: Transport, schedule: RetrySchedule):
        self.beat = time.monotonic()  # the lane's loop went round at this time (for the watchdog)
        self.broken = False  # the outbox cannot be read: the lane does no work, and says so
        self.transport = transport
        self.schedule = schedule
        self.attempt = 0
        self.failures = 0  # failed tries since the last delivery (for the one "delivering again" line)
        self.failing_since: float | None = None  # monotonic, the first of those failures
        self.blocked_until = 0.0  # monotonic
        self.last_ok: float | None = None  # wall clock
        self.last_error: str | None = None
        self.last_error_at: float | None = None
        self.sent = 0
        self.thread: threading.Thread | None = None
        self.wake = threading.Event()
        self.resume = threading.Event()  # the transport reconnected: end a backoff early


class Uplink:
    def __init__(
        self,
        outbox: Outbox,
        transports: list[Transport],
        schedule: Callable[[], RetrySchedule] = RetrySchedule,
        snapshots: SnapshotStore | None = None,
        batch: int = 64,
        idle_poll_s: float = 2.0,
        on_delivered: Callable[[Item, Outcome], None] | None = None,
    ):
        self.outbox = outbox
        self.snapshots = snapshots
        self.batch = batch
        self.idle_poll_s = idle_poll_s
        self.on_delivered = on_delivered
        self._lanes = [_Lane(t, schedule()) for t in transports]
        for lane in self._lanes:
            if hasattr(lane.transport, "on_connected"):  # MQTT: paho reconnects by itself
                lane.transport.on_connected = lane.resume.set
        self._stop = threading.Event()
        self._last_housekeeping = -1e9
        outbox.add_listener(self.wake)

    @classmethod
    def from_config(cls, cfg, outbox: Outbox, snapshots: SnapshotStore | None = None,
                    base_dir: Path | None = None, allow_missing_token: bool = False, **kw) -> "Uplink":
        """HTTP and/or MQTT as the config enables them (the outbox's destinations must match:
        use Outbox.from_config). Raises SecretError when a configured secret cannot be read."""
        transports: list[Transport] = []
        if cfg.uplink.http.enabled:
            from .http import HttpTransport

            transports.append(HttpTransport.from_config(cfg, base_dir, allow_missing_token))
        if cfg.uplink.mqtt.enabled:
            from .mqtt import MqttTransport

            transports.append(MqttTransport.from_config(cfg, base_dir))
        b = cfg.uplink.backoff
        return cls(outbox, transports, lambda: RetrySchedule(b.initial_s, b.max_s), snapshots, **kw)

    # -- control ---------------------------------------------------------------------------

    def start(self) -> None:
        self._stop.clear()
        for lane in self._lanes:
            lane.transport.start()
            lane.thread = threading.Thread(target=self._run, args=(lane,), name=f"uplink-{lane.transport.name}", daemon=True)
            lane.thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        self.wake()
        for lane in self._lanes:
            lane.resume.set()
        for lane in self._lanes:
            if lane.thread:
                lane.thread.join(timeout)
            lane.transport.stop()

    def wake(self) -> None:
        """Something was enqueued: look at the outbox now (a backoff in progress still holds)."""
        for lane in self._lanes:
            lane.wake.set()

    def heartbeat(self) -> float | None:
        """Monotonic time the slowest lane last went round its loop; None without lanes.
        A lane stuck in a request longer than its timeouts shows here as an old beat."""
        if not self._lanes:
            return None
        if any(lane.thread is None or not lane.thread.is_alive() or lane.broken for lane in self._lanes):
            return float("-inf")  # a loop that cannot do its work must not feed the watchdog
        return min(lane.beat for lane in self._lanes)

    def health(self) -> dict[str, Any]:
        counts = self.outbox.counts()
        lanes = {}
        now = time.monotonic()
        for lane in self._lanes:
            t = lane.transport
            lanes[t.name] = {
                "connected": getattr(t, "connected", None),
                "last_ok": lane.last_ok,
                "last_error": lane.last_error,
                "attempt": lane.attempt,
                "retry_in_s": round(max(0.0, lane.blocked_until - now), 2),
                "sent": lane.sent,
            }
        errors = [(ln.last_error_at, ln.last_error) for ln in self._lanes if ln.last_error_at]
        oks = [ln.last_ok for ln in self._lanes if ln.last_ok]
        return {
            "pending": counts["pending"],
            "dead_letters": counts["dead_letters"],
            "telemetry_backlog": counts["telemetry_backlog"],
            "last_ok": max(oks) if oks else None,
            "last_error": max(errors)[1] if errors else None,
            "destinations": lanes,
        }

    # -- the lane's thread -------------------------------------------------------------------

    def _run(self, lane: _Lane) -> None:
        name = lane.transport.name
        while not self._stop.is_set():
            lane.beat = time.monotonic()
            wait = lane.blocked_until - lane.beat
            if wait > 0:
                # backing off: an enqueue does not cut this short, a reconnect of the transport does;
                # waited in short steps so the loop keeps showing it is alive
                if lane.resume.wait(min(wait, 1.0)) and not self._stop.is_set():
                    lane.resume.clear()
                    lane.attempt, lane.blocked_until = 0, 0.0
                continue
            lane.wake.clear()  # before looking, so an enqueue from now on is not missed
            try:
                items = self.outbox.pending(name, self.batch)
                lane.broken = False
                if not items:
                    tele = self.outbox.next_telemetry(name)
                    items = [tele] if tele else []
                if not items:
                    self._housekeeping()
                    lane.wake.wait(min(self.idle_poll_s, 1.0))
                    continue
                self._drain(lane, items)
            except OutboxDamaged as e:
                if not lane.broken:
                    log.error("uplink %s: cannot read the outbox (%s); withholding the watchdog", name, e)
                lane.broken = True
                self._fail(lane, f"outbox damaged: {e}", None)
            except Exception as e:  # a bug or a disk problem: log, back off, keep the thread alive
                log.exception("uplink %s: unexpected error", name)
                self._fail(lane, f"internal error: {e}", None)

    def _housekeeping(self) -> None:
        """When idle, at most hourly: forget long-resolved incidents (see Outbox.prune_history)."""
        now = time.monotonic()
        if now - self._last_housekeeping < 3600:
            return
        self._last_housekeeping = now
        try:
            n = self.outbox.prune_history()
            if n:
                log.info("outbox: forgot %d incident(s) resolved long ago", n)
        except Exception:
            log.exception("outbox housekeeping failed")

    def _drain(self, lane: _Lane, items: list[Item]) -> None:
        done: list[Item] = []
        flushed = time.monotonic()
        try:
            for item in items:
                if self._stop.is_set():
                    return
                outcome = self._send(lane, item)
                if outcome.kind == "ok":
                    self._delivering_again(lane)
                    lane.attempt = 0
                    lane.last_ok = time.time()
                    lane.sent += 1
                    done.append(item)
                    if self.on_delivered:
                        self.on_delivered(item, outcome)
                    # mark in batches (one fsync each), but promptly when traffic is light
                    if len(done) >= 32 or time.monotonic() - flushed > 0.2:
                        self.outbox.delivered(done)
                        done, flushed = [], time.monotonic()
                    continue
                self.outbox.delivered(done)
                done = []
                if outcome.kind == "dead":
                    self._delivering_again(lane)
                    lane.attempt = 0  # the platform answered: the link works, the next outage backs off afresh
                    lane.last_error, lane.last_error_at = f"{item.label}: HTTP {outcome.status} (dead letter)", time.time()
                    self.outbox.dead_letter(item, outcome.status, outcome.detail)
                    continue
                self.outbox.failed(item, _describe(outcome))
                self._fail(lane, f"{item.label}: {_describe(outcome)}", outcome.retry_after)
                return
        finally:
            self.outbox.delivered(done)

    def _fail(self, lane: _Lane, error: str, retry_after: float | None) -> None:
        lane.attempt += 1
        lane.resume.clear()  # only a reconnect from now on ends this backoff early
        delay = lane.schedule.delay(lane.attempt, retry_after)
        lane.blocked_until = time.monotonic() + delay
        lane.last_error, lane.last_error_at = error, time.time()
        lane.failures += 1
        if lane.failures == 1:
            lane.failing_since = time.monotonic()
        log.warning("%s", retry_line(lane.transport.name, error, lane.attempt, delay))

    def _delivering_again(self, lane: _Lane) -> None:
        """The destination takes deliveries again after failures: said once per outage."""
        if lane.failures:
            down_s = time.monotonic() - (lane.failing_since or time.monotonic())
            log.info("%s", recovered_line(lane.transport.name, lane.failures, down_s))
        lane.failures, lane.failing_since = 0, None

    def _send(self, lane: _Lane, item: Item) -> Outcome:
        body = item.body
        if item.kind == "snapshot":
            sha = body.decode()
            jpeg = self.snapshots.get(sha) if self.snapshots else None
            if jpeg is None:
                # pruned by the quota before it could go: nothing left to send. The one place that
                # handles a pruned picture is the runtime's router: it makes the revision that says
                # snapshot: null (Router.pictures_pruned)
                log.warning("snapshot %s of incident %s no longer on disk; skipped", sha[:12], item.incident_id)
                return Outcome("ok", None, "picture pruned")
            body = jpeg
        return lane.transport.send(item.kind, item.incident_id, body)


def _describe(o: Outcome) -> str:
    if o.status is None:
        return o.detail or "failed"
    text = " ".join(o.detail.split())[:200]
    return f"HTTP {o.status}" + (f": {text}" if text else "")
