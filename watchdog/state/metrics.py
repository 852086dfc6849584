"""Metrics of the state store (default prometheus-client registry)."""

from __future__ import annotations

from prometheus_client import Counter, Histogram

QUERY_DURATION = Histogram(
    "watchdog_state_query_duration_seconds",
    "Time spent running one store operation on the database worker thread.",
    ["operation"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0),
)

ERRORS = Counter(
    "watchdog_state_errors_total",
    "Store operations that failed (disk, corruption, closed store).",
    ["operation"],
)

PRUNED_ROWS = Counter(
    "watchdog_state_pruned_rows_total",
    "Rows removed by retention (timeline events, finished runs, notification log).",
)

INTERRUPTED_RUNS = Counter(
    "watchdog_state_interrupted_runs_total",
    "Remediation runs found unfinished at open() and marked interrupted.",
)
