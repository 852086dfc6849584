"""Issue 4's streaming guarantees, checked directly:
- causal: the score at t is the same whatever comes after t (every algorithm, and the backtest);
- gaps and absent series: a series that disappears for a while and comes back normal does not alarm;
- a new series warms up silently even when its first values are wild;
- a detector whose model throws is recorded in its health, and the other detectors keep scoring."""

from __future__ import annotations

import random
import sys
import types

import numpy as np
import pytest
from pydantic import BaseModel, ConfigDict

from watchdog.detect import registry
from watchdog.detect.backtest import resolve_detector, score_series
from watchdog.detect.csvseries import CsvSeries
from watchdog.detect.runner import DetectorRunner
from watchdog.detect.spec import load_detector_files
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.tsdb import SeriesStore

ALL = ["robust_z", "ewma", "seasonal", "changepoint", "forecast", "ensemble", "knn", "novelty", "isolation_forest"]
SMALL_FOREST = {"min_train": 64, "refit_points": 200, "n_estimators": 10, "window": 4}


def wavy(n: int, seed: int) -> list[float]:
    rng = random.Random(seed)
    return [10.0 + 3.0 * np.sin(i / 15.0) + rng.gauss(0, 0.5) for i in range(n)]


def run(algo: str, values: list[float]) -> list[float]:
    if algo == "isolation_forest":
        pytest.importorskip("sklearn")
    d = registry.create(algo, SMALL_FOREST if algo == "isolation_forest" else None)
    return [d.update(i * 60.0, x) for i, x in enumerate(values)]


@pytest.mark.parametrize("algo", ALL)
def test_score_at_t_does_not_depend_on_data_after_t(algo):
    base = wavy(900, seed=1)
    cut = 600
    altered = base[:cut] + [x * 5.0 + 100.0 for x in wavy(300, seed=2)]   # a wild future
    a, b = run(algo, base), run(algo, altered)
    assert a[:cut] == b[:cut]
    assert a[cut:] != b[cut:]          # the future did change: the comparison above could fail


def test_backtest_scores_are_causal():
    spec = resolve_detector("detectors/nab.yml")
    base = np.asarray(wavy(1200, seed=3))
    altered = base.copy()
    altered[800:] += np.linspace(0, 50, 400)

    def series(v: np.ndarray) -> CsvSeries:
        times = np.arange(len(v)) * 300.0
        return CsvSeries("x.csv", [str(t) for t in times], times, v, 0, 0)

    a, b = score_series(spec, series(base)), score_series(spec, series(altered))
    assert np.array_equal(a[:800], b[:800]) and not np.array_equal(a[800:], b[800:])


SPECS = """
detectors:
  - name: dflt
    input: latency_seconds
    warmup: 30m
  - name: smooth
    input: latency_seconds
    algorithm: ewma
    params: {min_points: 20}
    warmup: 30m
"""


def make_runner(tmp_path, clock, text=SPECS):
    p = tmp_path / "d.yml"
    p.write_text(text)
    specs, errors = load_detector_files([str(p)])
    assert errors == []
    series = SeriesStore()
    return DetectorRunner(specs, engine=Engine(series), series=series, clock=clock), series


def scores_at(series, t, detector):
    return {s.labels.get("instance"): s.value for s in Engine(series).vector(f'anomaly_score{{detector="{detector}"}}', t)}


async def test_gap_then_normal_values_does_not_alarm(tmp_path, fake_clock):
    runner, series = make_runner(tmp_path, fake_clock)
    rng = random.Random(5)
    seen: dict[str, list[float]] = {"dflt": [], "smooth": []}
    for i in range(900):
        t = fake_clock.now()
        if not 500 <= i < 560:        # an hour with no samples at all (a scrape outage), then normal again
            series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.2 + 0.05 * np.sin(i / 10) + rng.gauss(0, 0.002), t)
        await runner.step(t)
        for det in seen:
            got = scores_at(series, t, det)
            if "a" in got and i >= 500:
                seen[det].append(got["a"])
        fake_clock.advance(60.0)
    m = runner.detectors["dflt"].models[Labels.of(instance="a")]
    assert m.detector.state()["n"] == 840          # the missing steps were skipped, not filled
    assert seen["dflt"] and max(seen["dflt"]) < 0.9
    assert seen["smooth"] and max(seen["smooth"]) < 0.9


async def test_new_series_warms_up_silently_even_when_wild(tmp_path, fake_clock):
    runner, series = make_runner(tmp_path, fake_clock)
    rng = random.Random(8)
    early: list[float] = []
    for i in range(30):               # the 30 minutes of warm-up
        t = fake_clock.now()
        series.append(Labels.of(__name__="latency_seconds", instance="new"), rng.choice([0.001, 5.0, 900.0]) * (i + 1), t)
        await runner.step(t)
        early += scores_at(series, t, "dflt").values()
        early += scores_at(series, t, "smooth").values()
        fake_clock.advance(60.0)
    assert len(early) == 60 and set(early) == {0.0}
    status = {d["detector"]: d for d in runner.status()}
    assert not status["smooth"]["series"][0]["warm"] and status["smooth"]["health"] == "ok"


class _ExplodingParams(BaseModel):
    model_config = ConfigDict(extra="forbid")
    after: int = 5


class _Exploding:
    """A detector with a bug: it throws once it has seen `after` samples."""

    warm = True

    def __init__(self, p: _ExplodingParams) -> None:
        self.p, self.n = p, 0

    def update(self, t: float, x: float) -> float:
        self.n += 1
        if self.n > self.p.after:
            raise ZeroDivisionError("bug in the model")
        return 0.0

    def state(self) -> dict:
        return {"n": self.n}

    def load_state(self, s: dict) -> None:
        self.n = s["n"]


async def test_a_throwing_detector_is_unhealthy_and_the_others_keep_scoring(tmp_path, fake_clock, monkeypatch):
    mod = types.ModuleType("watchdog_test_exploding")
    mod.Params = _ExplodingParams
    mod.create = _Exploding
    monkeypatch.setitem(sys.modules, mod.__name__, mod)
    monkeypatch.setitem(registry.ALGORITHMS, "exploding", mod.__name__)
    text = SPECS + """
  - name: buggy
    input: latency_seconds
    algorithm: exploding
"""
    runner, series = make_runner(tmp_path, fake_clock, text)
    for i in range(60):
        t = fake_clock.now()
        series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.2 + 0.01 * (i % 3), t)
        await runner.step(t)
        fake_clock.advance(60.0)
    status = {d["detector"]: d for d in runner.status()}
    assert status["buggy"]["health"] == "error"
    assert "ZeroDivisionError" in status["buggy"]["last_error"] and "bug in the model" in status["buggy"]["last_error"]
    assert status["dflt"]["health"] == "ok" and status["smooth"]["health"] == "ok"
    assert runner.detectors["smooth"].models[Labels.of(instance="a")].detector.state()["n"] == 60
    t = fake_clock.now() - 60.0
    assert "a" in scores_at(series, t, "smooth") and "a" in scores_at(series, t, "dflt")


async def test_a_scrape_slower_than_the_detector_feeds_each_sample_once(tmp_path, fake_clock):
    runner, series = make_runner(tmp_path, fake_clock)
    for i in range(120):                 # detector steps every 10 s, a sample every 60 s
        t = fake_clock.now()
        if i % 6 == 0:
            series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.2 + 0.01 * (i % 5), t)
        await runner.step(t)
        fake_clock.advance(10.0)
    for name in ("dflt", "smooth"):
        assert runner.detectors[name].models[Labels.of(instance="a")].detector.state()["n"] == 20


async def test_a_computed_input_is_sampled_at_every_step(tmp_path, fake_clock):
    text = """
detectors:
  - name: summed
    input: sum(latency_seconds)
    algorithm: ewma
"""
    runner, series = make_runner(tmp_path, fake_clock, text)
    series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.2, fake_clock.now())
    for _ in range(12):                  # one sample, visible for the 5-minute lookback
        await runner.step(fake_clock.now())
        fake_clock.advance(10.0)
    assert runner.detectors["summed"].models[Labels()].detector.state()["n"] == 12


def test_batch_backtest_equals_streaming_file_by_file():
    from watchdog.detect.backtest import score_series_batch

    spec = resolve_detector("detectors/nab.yml")
    files = []
    for k, n in enumerate((1500, 700, 1100)):        # different lengths: slots drop out as files end
        v = np.asarray(wavy(n, seed=10 + k))
        v[n // 2] += 40.0
        times = np.arange(n) * 300.0
        files.append(CsvSeries(f"{k}.csv", [str(t) for t in times], times, v, 0, 0))
    together = score_series_batch(spec, files)
    assert together is not None
    for f, got in zip(files, together):
        alone = score_series(spec, f)
        assert np.array_equal(got, alone) and alone.max() > 0.9


def test_batch_backtest_is_none_without_a_vectorised_model(tmp_path):
    from watchdog.detect.backtest import score_series_batch

    p = tmp_path / "d.yml"
    p.write_text("detectors:\n  - {name: e, input: value, algorithm: ewma}\n")
    times = np.arange(10) * 60.0
    assert score_series_batch(resolve_detector(str(p)), [CsvSeries("a.csv", ["0"] * 10, times, times, 0, 0)]) is None
