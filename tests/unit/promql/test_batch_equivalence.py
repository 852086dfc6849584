"""The numpy batch path for range functions must agree with the per-series definitions."""

import math
import random

import pytest

from watchdog.model import STALE_NAN, Labels
from watchdog.promql import Engine, functions
from watchdog.tsdb import SeriesStore

FUNCS = [
    "rate", "increase", "delta", "irate", "idelta", "changes", "resets", "count_over_time",
    "present_over_time", "last_over_time", "first_over_time", "min_over_time", "max_over_time",
    "sum_over_time", "avg_over_time",
]


def _store() -> SeriesStore:
    rnd = random.Random(7)
    s = SeriesStore()
    for i in range(150):
        labels = Labels.of(__name__="m", i=str(i))
        v = rnd.uniform(0, 100)
        t = rnd.uniform(0, 30)
        while t < 900:
            r = rnd.random()
            if r < 0.05:
                v = rnd.uniform(0, 5)  # counter reset
            elif r < 0.08:
                s.append(labels, math.nan, t)
                t += rnd.uniform(5, 30)
                continue
            elif r < 0.1:
                s.append(labels, STALE_NAN, t)
                t += rnd.uniform(5, 30)
                continue
            else:
                v += rnd.uniform(0, 10)
            s.append(labels, v, round(t, 3))
            t += rnd.uniform(5, 30)
    return s


@pytest.mark.parametrize("fn", FUNCS)
def test_batch_equals_per_series(fn, monkeypatch):
    e = Engine(_store())
    expr = f"{fn}(m[2m])"
    results = {}
    for threshold in (10**9, 0):
        monkeypatch.setattr(functions, "BATCH_MIN_SERIES", threshold)
        results[threshold] = {s.labels: s.value for s in e.vector(expr, 850.0)}
    exact, batched = results[10**9], results[0]
    assert len(exact) > 100
    assert exact.keys() == batched.keys()
    for k, v in exact.items():
        assert batched[k] == pytest.approx(v, rel=1e-9, nan_ok=True), (k, v, batched[k])
