"""The probe subsystem's own metrics (default prometheus-client registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

PROBE_DURATION = Histogram(
    "watchdog_probe_duration_seconds",
    "Time a probe took, by probe type.",
    ["type"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
PROBES = Counter("watchdog_probe_total", "Probes run, by type and result (success|failure).", ["type", "result"])
PROBES_SKIPPED = Counter(
    "watchdog_probe_skipped_total",
    "Scheduled probe runs skipped because the previous run of the same target was still in flight.",
    ["target"],
)
SCHEDULE_LAG = Histogram(
    "watchdog_probe_schedule_lag_seconds",
    "Actual start of a probe minus its planned start.",
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
)
