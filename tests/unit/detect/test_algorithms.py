"""Every algorithm: warm-up is silent, a spike scores high, constant series are safe,
state round-trips exactly, and runs are deterministic."""

from __future__ import annotations

import json
import random

import pytest

from watchdog.detect import registry

FAST = ["robust_z", "ewma", "seasonal", "changepoint", "forecast", "ensemble", "knn", "novelty"]


def noisy(n: int, seed: int = 3) -> list[tuple[float, float]]:
    rng = random.Random(seed)
    return [(i * 60.0, 10.0 + rng.gauss(0, 1)) for i in range(n)]


@pytest.mark.parametrize("algo", FAST)
def test_warmup_is_silent_and_scores_in_range(algo):
    d = registry.create(algo)
    scores = [d.update(t, x) for t, x in noisy(600)]
    assert scores[0] == 0.0
    assert all(0.0 <= s <= 1.0 for s in scores)
    assert d.warm


@pytest.mark.parametrize("algo", ["robust_z", "ewma", "knn", "ensemble", "forecast", "novelty"])
def test_spike_scores_high(algo):
    d = registry.create(algo)
    pts = noisy(800)
    for t, x in pts:
        d.update(t, x)
    assert d.update(800 * 60.0, 60.0) > 0.9


def test_changepoint_finds_level_shift_once():
    d = registry.create("changepoint")
    rng = random.Random(5)
    scores = [d.update(i, rng.gauss(0, 1) + (6.0 if i >= 1000 else 0.0)) for i in range(1400)]
    alarms = [i for i, s in enumerate(scores) if s > 0.9]
    assert alarms and 1000 <= alarms[0] <= 1010
    assert len([i for i in alarms if i > 1020]) == 0  # the reference restarted at the new level


def test_seasonal_learns_daily_profile():
    d = registry.create("seasonal", {"period": "1d", "buckets": 24})
    rng = random.Random(9)
    for i in range(24 * 14):
        d.update(i * 3600.0, (i % 24) * 10 + rng.gauss(0, 1))
    t = 24 * 14 * 3600.0 + 5 * 3600.0
    assert d.update(t, 50.0 + 0.5) < 0.5          # the usual value at 05:00
    assert d.update(t + 3600.0, 200.0) > 0.99     # 06:00 is usually 60


@pytest.mark.parametrize("algo", FAST)
def test_constant_series_then_change(algo):
    d = registry.create(algo)
    scores = [d.update(i * 10.0, 5.0) for i in range(500)]
    assert max(scores) < 0.5
    assert d.update(5000.0, 6.0) > 0.9 or algo in ("seasonal",)


@pytest.mark.parametrize("algo", FAST)
def test_state_round_trip_continues_identically(algo):
    a = registry.create(algo)
    pts = noisy(700, seed=11)
    for t, x in pts[:500]:
        a.update(t, x)
    b = registry.create(algo)
    b.load_state(json.loads(json.dumps(a.state())))
    rest = pts[500:]
    assert [a.update(t, x) for t, x in rest] == pytest.approx([b.update(t, x) for t, x in rest], abs=1e-4)


@pytest.mark.parametrize("algo", FAST)
def test_deterministic(algo):
    runs = []
    for _ in range(2):
        d = registry.create(algo)
        runs.append([d.update(t, x) for t, x in noisy(400)])
    assert runs[0] == runs[1]


def test_forecast_publishes_horizon_and_time_to_threshold():
    d = registry.create("forecast", {"thresholds": [1000], "horizons": ["1h"]})
    for i in range(200):
        d.update(i * 60.0, 100.0 + i)          # +1 per minute
    out = {(name, tuple(labels.items())): v for name, labels, v in d.outputs(0)}
    assert out[("forecast_value", (("horizon", "1h"),))] == pytest.approx(299 + 60, rel=1e-3)
    assert out[("time_to_threshold_seconds", (("threshold", "1000"),))] == pytest.approx((1000 - 299) * 60, rel=1e-3)


def test_forecast_moving_away_is_infinite():
    d = registry.create("forecast", {"thresholds": [0]})
    for i in range(50):
        d.update(i * 60.0, 100.0 + i)
    assert d.time_to_threshold(0) == float("inf")


def test_isolation_forest_compiled_scores_equal_scikit_learn():
    pytest.importorskip("sklearn")
    import numpy as np

    from watchdog.detect.isoforest import CompiledForest, Params, fit_forest

    rng = np.random.default_rng(1)
    model = fit_forest(rng.normal(size=(400, 4)), Params(n_estimators=30))
    compiled = CompiledForest(model)
    probes = rng.normal(size=(100, 4)) * 3
    assert [compiled.score(q) for q in probes] == pytest.approx(list(-model.score_samples(probes)), abs=1e-12)


def test_isolation_forest_fits_and_scores_outlier():
    pytest.importorskip("sklearn")
    d = registry.create("isolation_forest", {"min_train": 64, "refit_points": 1000, "n_estimators": 20, "window": 4})
    rng = random.Random(2)
    for i in range(200):
        d.update(i, rng.gauss(0, 1))
    assert d.warm
    normal = d.update(200, 0.0)
    outlier = d.update(201, 25.0)
    assert outlier > normal and outlier > 0.5
