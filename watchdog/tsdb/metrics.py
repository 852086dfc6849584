"""prometheus-client metrics of the series store (default registry)."""

from prometheus_client import Counter, Gauge

SERIES = Gauge("watchdog_tsdb_series", "Series currently held in the in-memory store.")
SAMPLES_APPENDED = Counter("watchdog_tsdb_samples_appended_total", "Samples accepted by the in-memory store.")
OUT_OF_ORDER = Counter(
    "watchdog_tsdb_out_of_order_samples_total", "Samples dropped because their timestamp was not after the series' last one."
)
SERIES_REFUSED = Counter(
    "watchdog_tsdb_series_refused_total", "Samples dropped because the store already held max_series series."
)
SAMPLES_PRUNED = Counter("watchdog_tsdb_samples_pruned_total", "Samples removed by retention.")
