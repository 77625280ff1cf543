"""What the platform contract fixes (`platform-api.md`): schema names, incident types, severities.

The one place these names live: the incident book, the agent, telemetry, the daily document
and the reference receiver all read them from here, so the box and the server cannot drift.
"""
from __future__ import annotations

INCIDENT_SCHEMA = "garbage-edge/incident@1"
TELEMETRY_SCHEMA = "garbage-edge/telemetry@1"
DAILY_SCHEMA = "garbage-edge/daily@1"

INCIDENT_TYPES = ("bag_outside_bin", "bin_full", "odor_high", "sensor_fault", "camera_fault",
                  "storage_fault", "collection_overdue", "bin_emptied")
ONE_SHOT_TYPES = ("bin_emptied",)  # created already resolved
STATES = ("open", "resolved")
SEVERITIES = ("info", "warning", "critical")

# The platform triages by severity: faults need a technician, bin_emptied is only evidence.
DEFAULT_SEVERITY = {
    "bag_outside_bin": "warning",
    "bin_full": "warning",
    "odor_high": "warning",
    "collection_overdue": "warning",
    "sensor_fault": "critical",
    "camera_fault": "critical",
    "storage_fault": "critical",
    "bin_emptied": "info",
}

# Identifiers the platform accepts (device, site, zone, bin): a letter or digit, then up to 63
# of letters, digits and `_.:-`. The box's own config allows a subset of these (no ':'), so
# everything it sends fits; the server accepts other platforms' ids too.
PLATFORM_ID = r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}"  # to embed in a larger pattern
PLATFORM_ID_PATTERN = rf"^{PLATFORM_ID}$"

# measurements.seen_by of bag_outside_bin: which eye saw the object
SEEN_BY = ("detector", "static", "both")
WASTE_TYPES = ("wet", "dry", "recyclable", "hazardous")

assert set(DEFAULT_SEVERITY) == set(INCIDENT_TYPES) and set(DEFAULT_SEVERITY.values()) <= set(SEVERITIES)
