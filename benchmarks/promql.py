"""PromQL engine benchmark: N synthetic counter series, common rule shapes, prints JSON.

    .venv/bin/python benchmarks/promql.py --series 10000 --repeat 5
"""

from __future__ import annotations

import argparse
import json
import time

from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.tsdb import SeriesStore

QUERIES = [
    "http_requests_total",
    "http_requests_total > 100",
    "rate(http_requests_total[5m])",
    "sum by (job) (rate(http_requests_total[5m]))",
    'http_requests_total{job="job3"}',
    "avg_over_time(http_requests_total[10m])",
    "http_requests_total / on(instance) group_left http_requests_total",
    "max_over_time(http_requests_total[10m:1m])",
]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=10_000)
    ap.add_argument("--interval", type=float, default=10.0)
    ap.add_argument("--history", type=float, default=3600.0)
    ap.add_argument("--repeat", type=int, default=5)
    args = ap.parse_args()
    store = SeriesStore()
    labels = [
        Labels.of(__name__="http_requests_total", job=f"job{i % 50}", instance=f"i{i}", code=str(200 + i % 5))
        for i in range(args.series)
    ]
    steps = int(args.history / args.interval)
    t0 = time.perf_counter()
    for k in range(steps):
        t = k * args.interval
        for i, lab in enumerate(labels):
            store.append(lab, float(k * (i % 7 + 1)), t)
    append_s = time.perf_counter() - t0
    engine = Engine(store)
    now = (steps - 1) * args.interval
    results = []
    for q in QUERIES:
        times = []
        n = 0
        for _ in range(args.repeat):
            start = time.perf_counter()
            n = len(engine.vector(q, now))
            times.append(time.perf_counter() - start)
        results.append({"query": q, "series_out": n, "min_ms": round(min(times) * 1000, 2),
                        "median_ms": round(sorted(times)[len(times) // 2] * 1000, 2)})
    print(json.dumps({
        "series": args.series,
        "samples": store.sample_count(),
        "appends_per_s": round(args.series * steps / append_s),
        "queries": results,
    }, indent=2))


if __name__ == "__main__":
    main()
