"""Prometheus metrics of the notification pipeline (default registry)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

NOTIFICATIONS = Counter(
    "watchdog_notify_notifications",
    "Notices a receiver's integration accepted.",
    ["receiver", "integration"],
)
NOTIFICATIONS_FAILED = Counter(
    "watchdog_notify_notifications_failed",
    "Failed delivery attempts, by reason (client_error, server_error, rate_limited, network, timeout, config, deadline, other).",
    ["receiver", "integration", "reason"],
)
LATENCY = Histogram(
    "watchdog_notify_latency_seconds",
    "Time one delivery attempt took.",
    ["receiver", "integration"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)
OUTBOX_SIZE = Gauge("watchdog_notify_outbox_size", "Notices waiting in the outbox (not yet accepted).")
DEFERRED = Counter(
    "watchdog_notify_deferred",
    "Sends held back without an attempt, by reason (rate_limited, breaker_open).",
    ["receiver", "integration", "reason"],
)
RECEIVER_FAILING = Gauge(
    "watchdog_notify_receiver_failing",
    "1 while an integration's circuit breaker is open (it keeps failing), else 0.",
    ["receiver", "integration"],
)
FALLBACKS = Counter(
    "watchdog_notify_fallbacks",
    "Notices handed to a fallback receiver after their receiver gave up.",
    ["receiver", "fallback"],
)
