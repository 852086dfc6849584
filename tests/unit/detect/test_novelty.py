"""The novelty detector (the default ensemble): batch equals one-by-one, one alarm per event,
range breaks, calibration to the 0.9 alarm level, and memory bounds."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest

from watchdog.detect import novelty, registry


def wave(n: int, seed: int, phase: float = 0.0) -> list[float]:
    rng = random.Random(seed)
    return [10 + 3 * math.sin(2 * math.pi * i / 50 + phase) + rng.gauss(0, 0.3) for i in range(n)]


def test_batch_equals_series_one_by_one_in_any_slot_order():
    p = novelty.Params()
    data = [wave(700, s, s) for s in range(3)]
    data[1][600] = 40.0
    singles = [novelty.create(p) for _ in data]
    expected = np.array([[d.update(0.0, x) for x in col] for d, col in zip(singles, data)])
    batch = novelty.create_batch(p, 2)          # too small on purpose: grows
    batch.grow(3)
    order = np.array([2, 0, 1])
    got = np.zeros_like(expected)
    for i in range(700):
        got[order, i] = batch.update(order, np.array([data[k][i] for k in order]))
    assert got == pytest.approx(expected, abs=1e-9)
    assert expected[1, 600] > 0.9 and expected[0, 600] < 0.9


def test_one_alarm_per_event_then_quiet():
    d = registry.create("novelty")
    xs = wave(1000, 1)
    scores = [d.update(float(i), x) for i, x in enumerate(xs)]
    assert max(scores[: d.batch.warm_points - 1]) == 0.0  # silent while warming up (sample k is the (k+1)-th)
    assert max(scores) < 0.9                              # ordinary waves do not alarm
    burst = [d.update(0.0, 50.0 + k) for k in range(20)]  # one event: 20 odd samples in a row
    assert burst[0] > 0.99                               # a range break alarms at once
    assert all(s == 0.0 for s in burst[1:])              # the rest of the event is quiet


def test_alarm_level_maps_to_09():
    p = novelty.Params()
    z = np.array([0.0, p.level, 2 * p.level])
    assert list(1 - np.power(0.1, z / p.level)) == pytest.approx([0.0, 0.9, 0.99])


def test_new_pattern_in_range_alarms_after_confirmation():
    d = registry.create("novelty")
    xs = wave(1500, 2)
    for i, x in enumerate(xs):
        d.update(float(i), x)
    # a fast flip-flop inside the usual range: no range break, but patterns never seen
    scores = [d.update(0.0, 8.0 if k % 2 else 12.0) for k in range(10)]
    assert scores[0] < 0.9            # one odd value is not yet an event (confirmation)
    assert max(scores) > 0.9


def test_state_survives_json_and_rejects_other_dimensions():
    a = registry.create("novelty")
    for i, x in enumerate(wave(400, 3)):
        a.update(float(i), x)
    blob = json.loads(json.dumps(a.state()))
    b = registry.create("novelty")
    b.load_state(blob)
    rest = wave(200, 4)
    assert [a.update(0.0, x) for x in rest] == pytest.approx([b.update(0.0, x) for x in rest], abs=1e-5)
    other = registry.create("novelty", {"window": 6})
    with pytest.raises(ValueError):
        other.load_state(blob)


def test_memory_per_series_under_64_kb():
    batch = novelty.create_batch(novelty.Params(), 100)
    assert batch.nbytes_per_series() < 64 * 1024


def test_default_ensemble_is_novelty_and_vectorised():
    assert isinstance(registry.create("ensemble", {}), novelty.Novelty)
    assert isinstance(registry.create_batch("ensemble", {}), novelty.NoveltyBatch)
    assert registry.create_batch("ensemble", {"members": [{"algorithm": "ewma"}]}) is None
    assert registry.create_batch("ewma", {}) is None


def test_extreme_values_do_not_poison_the_model():
    d = registry.create("novelty")
    for i, x in enumerate(wave(400, 5)):
        d.update(float(i), x)
    assert d.update(0.0, 1e308) > 0.99                   # a range break, not an overflow
    for x in (-1e308, 0.5, 1e-300):
        assert 0.0 <= d.update(0.0, x) <= 1.0
    st = d.state()
    assert math.isfinite(st["mean"]) and math.isfinite(st["var"])
    assert all(0.0 <= d.update(0.0, x) <= 1.0 for x in wave(300, 6))
