"""Incidents: the lifecycle (pure) and the evidence snapshot store.

- `IncidentBook` (book.py) opens, updates and resolves incidents and returns the document
  to enqueue (the wire format of the platform contract). Pure: every call takes `now`.
- `SnapshotStore` (snapshots.py) keeps evidence JPEGs in the state directory under a quota.
"""
from ..contract import INCIDENT_SCHEMA, INCIDENT_TYPES
from .book import (
    IncidentBook,
    Subject,
    format_time,
    subject_key,
)
from .snapshots import SnapshotStore

__all__ = [
    "INCIDENT_SCHEMA",
    "INCIDENT_TYPES",
    "IncidentBook",
    "SnapshotStore",
    "Subject",
    "format_time",
    "subject_key",
]
