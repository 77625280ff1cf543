"""Fill-level and odor sensing: filters, fill %, thresholds with hysteresis, faults.

Pure logic (takes `now` as an argument, no threads): `filters`, `alarms`, `pipeline`.
Threads and IO: `manager.SensorManager` (see its docstring for the runtime interface).
"""
from .alarms import AlarmEvent, Reading, SensorAlarms, fill_pct
from .filters import FilterChain
from .pipeline import SensorPipeline

__all__ = ["AlarmEvent", "FilterChain", "Reading", "SensorAlarms", "SensorPipeline", "fill_pct"]
