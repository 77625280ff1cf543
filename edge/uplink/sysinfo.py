"""Health figures of the box for telemetry: free disk, CPU temperature, uptime (reads /proc, /sys)."""
from __future__ import annotations

import shutil
from pathlib import Path


def disk_free_mb(path: str | Path) -> int | None:
    try:
        return int(shutil.disk_usage(path).free // (1024 * 1024))
    except OSError:
        return None


THERMAL_ZONE = Path("/sys/class/thermal/thermal_zone0/temp")


def cpu_temp_c(zone: Path = THERMAL_ZONE) -> float | None:
    """The SoC temperature (Raspberry Pi: thermal_zone0, in millidegrees); None where the board has no sensor."""
    try:
        return round(int(Path(zone).read_text().strip()) / 1000.0, 1)
    except (OSError, ValueError):
        return None
