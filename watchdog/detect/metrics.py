"""Detector metrics (default prometheus-client registry)."""

from prometheus_client import Counter, Gauge, Histogram

SERIES_MODELLED = Gauge("watchdog_detect_series_modelled", "Series with a live model, by detector.", ["detector"])
POINTS = Counter("watchdog_detect_points_total", "Samples scored, by detector.", ["detector"])
ERRORS = Counter("watchdog_detect_errors_total", "Detector evaluations or model updates that failed.", ["detector"])
STEP_SECONDS = Histogram("watchdog_detect_step_duration_seconds", "Time to evaluate all detectors once.")
REFITS = Counter("watchdog_detect_refits_total", "Model refits, by detector and outcome.", ["detector", "outcome"])
HEALTHY = Gauge("watchdog_detect_healthy", "1 when the detector's last evaluation succeeded.", ["detector"])
