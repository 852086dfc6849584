"""Prometheus metrics of the remediation subsystem (default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "watchdog_remediation_runs_total",
    "Remediation runs by final result (verified, succeeded, failed, verification_failed, interrupted, dry_run).",
    ["remediation", "result"],
)
DURATION = Histogram(
    "watchdog_remediation_duration_seconds",
    "Time an action took, from start to exit (verification excluded).",
    ["remediation"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300),
)
IN_FLIGHT = Gauge(
    "watchdog_remediation_in_flight",
    "Remediation runs started and not yet finished (action or verification in progress).",
)
DENIED = Counter(
    "watchdog_remediation_denied_total",
    "Remediations not started because a guardrail denied them.",
    ["remediation", "reason"],
)
CHANGES_FORWARDED = Counter(
    "watchdog_remediation_change_events_total",
    "Change events forwarded to an external service, by result (sent, retry, failed).",
    ["target", "result"],
)
