"""Metrics of the HTTP API (default registry)."""

from prometheus_client import Counter, Histogram

REQUESTS = Counter(
    "watchdog_api_requests",
    "HTTP API requests by handler and status code.",
    ["handler", "code"],
)

REQUEST_DURATION = Histogram(
    "watchdog_api_request_duration_seconds",
    "HTTP API request handling time by handler.",
    ["handler"],
    buckets=(0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0),
)
