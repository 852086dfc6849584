"""Detector speed: streaming throughput, model memory, refit time, and event-loop lag under load.

    .venv/bin/python benchmarks/detect_speed.py [--series 1000] [--steps 300] [--lag-steps 60]

Prints JSON:
- `default_batch`: the default detector (`ensemble` with params `{}`) vectorised across
  `--series` series: points/s per core (CPU time of the updates only), model bytes per series;
- `default_single` / `nab_single`: the same model and `detectors/nab.yml` driven one series at a
  time through the Detector protocol (what a backtest does);
- `isolation_forest`: one refit (CPU-bound, run off the event loop in the daemon) and its
  per-point scoring, reported separately as the issue asks;
- `runner`: `--series` modelled series through the real `DetectorRunner` on a real
  `SeriesStore` + PromQL `Engine`: time per step and the event loop's lag measured by a
  concurrent 5 ms ticker (what a probe or rule evaluation would wait).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import time

import numpy as np

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from watchdog.detect import registry  # noqa: E402
from watchdog.detect.backtest import resolve_detector  # noqa: E402


def synthetic(series: int, steps: int, seed: int = 1) -> np.ndarray:
    """steps x series values: daily-ish sine + noise + occasional spikes."""
    rng = np.random.default_rng(seed)
    t = np.arange(steps)[:, None]
    base = 100 + 10 * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 6, series)) + rng.normal(0, 1, (steps, series))
    spikes = rng.random((steps, series)) < 0.001
    return base + spikes * 50


def bench_batch(series: int, warm_steps: int, steps: int) -> dict:
    batch = registry.create_batch("ensemble", {}, series)
    data = synthetic(series, warm_steps + steps)
    slots = np.arange(series, dtype=np.int64)
    for i in range(warm_steps):   # fill the pattern memories first: the measured steps are steady state
        batch.update(slots, data[i])
    t0 = time.process_time()
    for i in range(warm_steps, warm_steps + steps):
        batch.update(slots, data[i])
    cpu = time.process_time() - t0
    return {
        "series": series,
        "points": series * steps,
        "points_per_second_per_core": round(series * steps / cpu),
        "model_bytes_per_series": batch.nbytes_per_series(),
    }


def bench_single(detector_factory, points: int) -> dict:
    d = detector_factory()
    xs = synthetic(1, points)[:, 0].tolist()
    t0 = time.process_time()
    for i, x in enumerate(xs):
        d.update(i * 60.0, x)
    cpu = time.process_time() - t0
    return {"points": points, "points_per_second_per_core": round(points / cpu)}


def bench_isolation_forest() -> dict | None:
    try:
        import sklearn  # noqa: F401
    except ImportError:
        return None
    from watchdog.detect.isoforest import fit_model

    d = registry.create("isolation_forest", {})
    xs = synthetic(1, 2000)[:, 0].tolist()
    d.inline_refit = False
    for i, x in enumerate(xs[:600]):
        d.update(i, x)
    t0 = time.perf_counter()
    d.install(fit_model(d.fit_snapshot(), d.p))
    fit = time.perf_counter() - t0
    t0 = time.process_time()
    for i, x in enumerate(xs[600:], start=600):
        d.update(i, x)
    cpu = time.process_time() - t0
    return {"refit_seconds": round(fit, 4), "points_per_second_per_core": round(1400 / cpu)}


async def bench_runner(series: int, steps: int, interval: float = 10.0) -> dict:
    from watchdog.detect.runner import DetectorRunner
    from watchdog.detect.spec import specs_from_doc
    from watchdog.config.yamlpos import load_yaml_text
    from watchdog.model import Labels
    from watchdog.promql import Engine
    from watchdog.testing.fakeclock import FakeClock
    from watchdog.tsdb import SeriesStore

    doc = load_yaml_text("detectors:\n  - {name: lat, input: latency_seconds, algorithm: ensemble, params: {}}\n", "<bench>")
    specs, errors = specs_from_doc(doc)
    assert not errors, errors
    clock = FakeClock()
    store = SeriesStore()
    runner = DetectorRunner(specs, engine=Engine(store), series=store, clock=clock)
    labels = [Labels.of(__name__="latency_seconds", instance=f"host{i}:9100", job="api") for i in range(series)]
    data = synthetic(series, steps)
    lags: list[tuple[int, float]] = []
    stop = False
    step_no = 0

    async def ticker() -> None:
        while not stop:
            t0 = time.perf_counter()
            await asyncio.sleep(0.005)
            lags.append((step_no, time.perf_counter() - t0 - 0.005))

    tick = asyncio.create_task(ticker())
    step_times = []
    cpu0 = time.process_time()
    for i in range(steps):
        step_no = i
        t = clock.now()
        store.append_batch("bench", list(zip(labels, data[i].tolist())), t)
        s0 = time.perf_counter()
        await runner.step(t)
        step_times.append(time.perf_counter() - s0)
        clock.advance(interval)
        await asyncio.sleep(0.01)   # the rest of the daemon's work between steps
    cpu = time.process_time() - cpu0
    stop = True
    await tick
    # the first step allocates 1,000 models at once (one-off); the steady state is what probes live with
    lag = np.asarray([v for k, v in lags if k >= 2])
    first_lag = max((v for k, v in lags if k < 2), default=0.0)
    st = np.asarray(step_times[2:])
    return {
        "series": series,
        "steps": steps,
        "first_step_seconds": round(step_times[0], 4),
        "first_steps_loop_lag_seconds_max": round(first_lag, 4),
        "step_seconds_p50": round(float(np.percentile(st, 50)), 4),
        "step_seconds_max": round(float(st.max()), 4),
        "loop_lag_seconds_p50": round(float(np.percentile(lag, 50)), 4),
        "loop_lag_seconds_p99": round(float(np.percentile(lag, 99)), 4),
        "loop_lag_seconds_max": round(float(lag.max()), 4),
        "cpu_seconds_per_step_incl_store_and_engine": round(cpu / steps, 4),
        "scores_written": len(Engine(store).vector("anomaly_score", clock.now() - interval)),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--series", type=int, default=1000)
    ap.add_argument("--steps", type=int, default=300)
    ap.add_argument("--warm-steps", type=int, default=1200)
    ap.add_argument("--lag-steps", type=int, default=60)
    args = ap.parse_args(argv)
    random.seed(1)
    nab = resolve_detector(os.path.join(ROOT, "detectors", "nab.yml"))
    out = {
        "default_batch": bench_batch(args.series, args.warm_steps, args.steps),
        "default_single": bench_single(lambda: registry.create("ensemble", {}), 5000),
        "nab_single": bench_single(nab.new_detector, 5000),
        "isolation_forest": bench_isolation_forest(),
        "runner": asyncio.run(bench_runner(args.series, args.lag_steps)),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
