"""Incident lifecycle: open, update, resolve; one open incident per subject.

Pure logic: no clock, no IO. Every call takes `now` (epoch seconds, or an aware datetime)
and returns the incident document to enqueue (a new revision), or None when nothing changed.

    book = IncidentBook.from_config(cfg, restore=outbox.open_incidents())
    doc = book.open("bag_outside_bin", Subject(zone="floor"), {"dwell_s": 61.0, "count": 1},
                    now=time.time(), snapshot=store.put(jpeg))
    outbox.enqueue_incident(doc)
    ...
    doc = book.resolve("bag_outside_bin", Subject(zone="floor"), now=time.time())
    doc = book.event("bin_emptied", Subject(bin_id="bin-1"),
                     {"fill_pct_before": 93.0, "fill_pct_after": 4.0}, now=time.time())

Documents follow the platform contract (`garbage-edge/incident@1`): a stable uuid `id`
(the idempotency key), `rev` starting at 1 and growing by one with every change, the
config's site block on every revision, RFC 3339 times with the device's UTC offset.

Not thread-safe: one thread (the runtime's event loop) owns the book.

Restart safety: the outbox keeps the newest revision of every incident in the same
transaction as the enqueue, so `IncidentBook(..., restore=outbox.open_incidents())` knows
which incidents are still open and a restart never opens a duplicate.
"""
from __future__ import annotations

import copy
import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping
from zoneinfo import ZoneInfo

from ..contract import DEFAULT_SEVERITY, INCIDENT_SCHEMA, INCIDENT_TYPES, ONE_SHOT_TYPES


Now = float | dt.datetime


@dataclass(frozen=True)
class Subject:
    """What an incident is about: a zone (vision), a bin, a sensor. Unused parts stay None."""

    zone: str | None = None
    bin_id: str | None = None
    sensor_id: str | None = None

    def as_dict(self) -> dict[str, str | None]:
        return {"zone": self.zone, "bin_id": self.bin_id, "sensor_id": self.sensor_id}

    @classmethod
    def of(cls, value: "Subject | Mapping[str, Any]") -> "Subject":
        if isinstance(value, Subject):
            return value
        unknown = set(value) - {"zone", "bin_id", "sensor_id"}
        if unknown:
            raise ValueError(f"unknown subject keys: {sorted(unknown)}")
        return cls(value.get("zone"), value.get("bin_id"), value.get("sensor_id"))


def subject_key(type_: str, subject: "Subject | Mapping[str, Any]") -> tuple[str, str | None, str | None, str | None]:
    s = Subject.of(subject)
    return (type_, s.zone, s.bin_id, s.sensor_id)


def format_time(now: Now, tz: dt.tzinfo) -> str:
    """RFC 3339 with milliseconds and the device's UTC offset, e.g. 2026-11-28T19:02:11.412+08:00."""
    if isinstance(now, dt.datetime):
        if now.tzinfo is None:
            raise ValueError("naive datetime: give epoch seconds or an aware datetime")
        when = now.astimezone(tz)
    else:
        when = dt.datetime.fromtimestamp(float(now), tz)
    return when.isoformat(timespec="milliseconds")


class IncidentBook:
    """The open incidents of one device and the revisions they go through."""

    def __init__(
        self,
        device_id: str,
        site: Mapping[str, Any],
        tz: dt.tzinfo | str = "UTC",
        restore: Iterable[Mapping[str, Any]] = (),
        new_id: Callable[[], str] = lambda: str(uuid.uuid4()),
    ):
        self.device_id = device_id
        self.site = copy.deepcopy(dict(site))
        self.tz = ZoneInfo(tz) if isinstance(tz, str) else tz
        self._new_id = new_id
        self._open: dict[tuple, dict[str, Any]] = {}
        self._reserved: dict[tuple, str] = {}  # ids handed out by id_for() before their incident opened
        for doc in restore:
            if doc.get("state") == "open" and doc.get("type") not in ONE_SHOT_TYPES:
                key = subject_key(doc["type"], doc["subject"])
                held = self._open.get(key)
                if held is None or (doc["opened_at"], doc["rev"]) > (held["opened_at"], held["rev"]):
                    self._open[key] = copy.deepcopy(dict(doc))

    @classmethod
    def from_config(cls, cfg, restore: Iterable[Mapping[str, Any]] = ()) -> "IncidentBook":
        """From the root `Config`: device id, time zone and the site block (责任追溯)."""
        return cls(cfg.device.id, cfg.device.site.model_dump(), cfg.device.timezone, restore=restore)

    # -- queries ---------------------------------------------------------------------------

    def get(self, type_: str, subject: Subject | Mapping[str, Any]) -> dict[str, Any] | None:
        """The open incident of this type and subject (a copy), or None."""
        doc = self._open.get(subject_key(type_, subject))
        return copy.deepcopy(doc) if doc else None

    def open_incidents(self) -> list[dict[str, Any]]:
        return [copy.deepcopy(d) for d in self._open.values()]

    def id_for(self, type_: str, subject: Subject | Mapping[str, Any]) -> str:
        """The id of the open incident of this subject, or the id its next open() will take:
        an evidence picture is stamped with its incident's id before that incident is opened."""
        key = subject_key(type_, subject)
        doc = self._open.get(key)
        if doc is not None:
            return doc["id"]
        if key not in self._reserved:
            self._reserved[key] = self._new_id()
        return self._reserved[key]

    # -- lifecycle -------------------------------------------------------------------------

    def open(
        self,
        type_: str,
        subject: Subject | Mapping[str, Any],
        measurements: Mapping[str, Any],
        now: Now,
        snapshot: Mapping[str, Any] | None = None,
        severity: str | None = None,
        reminders: int = 0,
    ) -> dict[str, Any] | None:
        """Open an incident (rev 1). If one is already open for this subject, this is an update.
        `reminders`: those already spoken for it, in the same first revision (not a second one)."""
        self._check_type(type_)
        if type_ in ONE_SHOT_TYPES:
            raise ValueError(f"{type_} is a one-shot event: use event()")
        key = subject_key(type_, subject)
        if key in self._open:
            return self.update(type_, subject, now, measurements=measurements, snapshot=snapshot,
                               reminders=reminders or None)
        doc = self._new_doc(type_, subject, measurements, now, snapshot, severity, state="open")
        doc["id"] = self._reserved.pop(key, doc["id"])
        doc["reminders"] = int(reminders)
        self._open[key] = doc
        return copy.deepcopy(doc)

    _KEEP = object()

    def update(
        self,
        type_: str,
        subject: Subject | Mapping[str, Any],
        now: Now,
        measurements: Mapping[str, Any] | None = None,
        snapshot: Any = _KEEP,
        reminders: int | None = None,
    ) -> dict[str, Any] | None:
        """A new revision of the open incident: measurements merged in, snapshot replaced
        (None removes it), reminders set. None when there is no such incident or nothing changed."""
        doc = self._open.get(subject_key(type_, subject))
        if doc is None:
            return None
        new = copy.deepcopy(doc)
        if measurements:
            new["measurements"].update(copy.deepcopy(dict(measurements)))
        if snapshot is not self._KEEP:
            new["snapshot"] = _snapshot(snapshot)
        if reminders is not None:
            new["reminders"] = int(reminders)
        if new == doc:
            return None
        return self._commit(new, now)

    def resolve(
        self,
        type_: str,
        subject: Subject | Mapping[str, Any],
        now: Now,
        measurements: Mapping[str, Any] | None = None,
        snapshot: Any = _KEEP,
    ) -> dict[str, Any] | None:
        """Close the open incident (a last revision with state resolved). None when none is open.
        `snapshot`: the picture of the place once cleared (the evidence that the loop closed)."""
        key = subject_key(type_, subject)
        doc = self._open.pop(key, None)
        if doc is None:
            return None
        new = copy.deepcopy(doc)
        if measurements:
            new["measurements"].update(copy.deepcopy(dict(measurements)))
        if snapshot is not self._KEEP:
            new["snapshot"] = _snapshot(snapshot)
        new["state"] = "resolved"
        new["resolved_at"] = format_time(now, self.tz)
        return self._commit(new, now, keep_open=False)

    def event(
        self,
        type_: str,
        subject: Subject | Mapping[str, Any],
        measurements: Mapping[str, Any],
        now: Now,
        snapshot: Mapping[str, Any] | None = None,
        severity: str | None = None,
    ) -> dict[str, Any]:
        """A one-shot event such as bin_emptied: created already resolved (rev 1), never held open."""
        self._check_type(type_)
        doc = self._new_doc(type_, subject, measurements, now, snapshot, severity, state="resolved")
        doc["resolved_at"] = doc["opened_at"]
        return doc

    def forget_snapshots(self, sha256s: Iterable[str], now: Now) -> list[dict[str, Any]]:
        """Pictures pruned by the storage quota: open incidents that carried one get a revision
        with `snapshot: null`. Returns those revisions (to enqueue)."""
        gone = set(sha256s)
        docs = []
        for key, doc in list(self._open.items()):
            snap = doc.get("snapshot")
            if snap and snap.get("sha256") in gone:
                new = copy.deepcopy(doc)
                new["snapshot"] = None
                docs.append(self._commit(new, now))
        return docs

    # -- internals -------------------------------------------------------------------------

    def _new_doc(self, type_, subject, measurements, now, snapshot, severity, state) -> dict[str, Any]:
        t = format_time(now, self.tz)
        return {
            "schema": INCIDENT_SCHEMA,
            "id": self._new_id(),
            "rev": 1,
            "device_id": self.device_id,
            "type": type_,
            "state": state,
            "severity": severity or DEFAULT_SEVERITY[type_],
            "opened_at": t,
            "updated_at": t,
            "resolved_at": None,
            "site": copy.deepcopy(self.site),
            "subject": Subject.of(subject).as_dict(),
            "measurements": copy.deepcopy(dict(measurements)),
            "reminders": 0,
            "snapshot": _snapshot(snapshot),
        }

    def _commit(self, new: dict[str, Any], now: Now, keep_open: bool = True) -> dict[str, Any]:
        new["rev"] += 1
        new["updated_at"] = format_time(now, self.tz)
        new["site"] = copy.deepcopy(self.site)  # the current site block rides on every revision
        if keep_open:
            self._open[subject_key(new["type"], new["subject"])] = new
        return copy.deepcopy(new)

    @staticmethod
    def _check_type(type_: str) -> None:
        if type_ not in INCIDENT_TYPES:
            raise ValueError(f"unknown incident type {type_!r} (known: {', '.join(INCIDENT_TYPES)})")


def _snapshot(meta: Mapping[str, Any] | None) -> dict[str, Any] | None:
    if meta is None:
        return None
    missing = {"sha256", "bytes"} - set(meta)
    if missing:
        raise ValueError(f"snapshot needs {sorted(missing)}")
    return {"sha256": meta["sha256"], "bytes": int(meta["bytes"]), "content_type": meta.get("content_type", "image/jpeg")}
