"""The streaming runner over the real series store, PromQL engine and SQLite store, on a FakeClock."""

from __future__ import annotations

import random

from watchdog.detect.runner import DetectorRunner
from watchdog.detect.spec import load_detector_files
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.tsdb import SeriesStore

SPECS = """
detectors:
  - name: lat
    input: latency_seconds
    algorithm: ewma
    params: {alpha: 0.05, min_points: 20}
    warmup: 5m
    labels: {team: web}
  - name: broken
    input: 'latency_seconds + on() latency_seconds'
    algorithm: ewma
  - name: disk
    input: disk_used_bytes
    algorithm: forecast
    params: {thresholds: [1000], horizons: [1h]}
"""


def specs(tmp_path, text=SPECS):
    p = tmp_path / "d.yml"
    p.write_text(text)
    s, errors = load_detector_files([str(p)])
    assert errors == []
    return s


def feed(series, t, values):
    for inst, v in values.items():
        series.append(Labels.of(__name__="latency_seconds", instance=inst), v, t)
    series.append(Labels.of(__name__="disk_used_bytes", instance="a"), 100.0 + (t - 1_700_000_000) / 60.0, t)


def score(series, t, inst, detector="lat"):
    eng = Engine(series)
    out = eng.vector(f'anomaly_score{{detector="{detector}", instance="{inst}"}}', t)
    return out[0].value if out else None


async def run_minutes(runner, series, clock, minutes, spike_at=None):
    rng = random.Random(4)
    for i in range(minutes):
        t = clock.now()
        v = {"a": 0.1 + rng.gauss(0, 0.005), "b": 0.2 + rng.gauss(0, 0.005)}
        if spike_at is not None and i == spike_at:
            v["a"] = 2.0
        feed(series, t, v)
        await runner.step(t)
        clock.advance(60.0)


async def test_scores_per_series_with_labels_warmup_and_health(tmp_path, fake_clock):
    series = SeriesStore()
    runner = DetectorRunner(specs(tmp_path), engine=Engine(series), series=series, store=None, clock=fake_clock)
    await run_minutes(runner, series, fake_clock, 3)
    t = fake_clock.now() - 60
    eng = Engine(series)
    out = eng.vector('anomaly_score{detector="lat"}', t)
    assert {s.labels.get("instance") for s in out} == {"a", "b"}
    assert all(s.labels.get("team") == "web" and s.value == 0.0 for s in out)  # warming up
    await run_minutes(runner, series, fake_clock, 60, spike_at=50)
    spiked = eng.vector('anomaly_score{detector="lat", instance="a"}', fake_clock.now() - 60 * 10)
    assert spiked[0].value > 0.99
    assert eng.vector('anomaly_score{detector="lat", instance="b"}', fake_clock.now() - 60 * 10)[0].value < 0.99
    status = {d["detector"]: d for d in runner.status()}
    assert status["lat"]["health"] == "ok" and len(status["lat"]["series"]) == 2
    assert all(s["warm"] for s in status["lat"]["series"])
    assert status["broken"]["health"] == "error" and status["broken"]["last_error"]
    # the forecast detector publishes its series beside the score
    ttt = eng.vector('time_to_threshold_seconds{detector="disk", threshold="1000"}', fake_clock.now() - 60)
    assert ttt and 0 < ttt[0].value < float("inf")
    assert eng.vector('forecast_value{detector="disk", horizon="1h"}', fake_clock.now() - 60)


async def test_models_survive_restart(tmp_path, fake_clock):
    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "w.db"), clock=fake_clock)
    await store.open()
    try:
        series = SeriesStore()
        s = specs(tmp_path)
        runner = DetectorRunner(s, engine=Engine(series), series=series, store=store, clock=fake_clock)
        await run_minutes(runner, series, fake_clock, 40)
        await runner.persist()
        before = runner.detectors["lat"].models[Labels.of(instance="a")].detector.state()

        runner2 = DetectorRunner(s, engine=Engine(series), series=series, store=store, clock=fake_clock)
        assert await runner2.restore() >= 2
        feed(series, fake_clock.now(), {"a": 0.1, "b": 0.2})
        await runner2.step(fake_clock.now())
        m = runner2.detectors["lat"].models[Labels.of(instance="a")]
        assert m.detector.state()["n"] == before["n"] + 1       # continued, not restarted
        assert m.first_seen < fake_clock.now() - 30 * 60
        # a changed spec does not reuse the old models
        changed = specs(tmp_path, SPECS.replace("alpha: 0.05", "alpha: 0.06"))
        runner3 = DetectorRunner(changed, engine=Engine(series), series=series, store=store, clock=fake_clock)
        await runner3.restore()
        assert runner3.detectors["lat"].saved == {}
    finally:
        await store.close()


async def test_bad_values_skipped_and_update_specs_keeps_models(tmp_path, fake_clock):
    series = SeriesStore()
    s = specs(tmp_path)
    runner = DetectorRunner(s, engine=Engine(series), series=series, clock=fake_clock)
    for i in range(30):
        t = fake_clock.now()
        feed(series, t, {"a": float("nan") if i % 3 == 0 else 0.1, "b": float("inf")})
        await runner.step(t)
        fake_clock.advance(60)
    models = runner.detectors["lat"].models
    assert set(models) == {Labels.of(instance="a")}              # b never had a finite value
    assert models[Labels.of(instance="a")].detector.state()["n"] == 20
    runner.update_specs(s)
    assert runner.detectors["lat"].models is models
    runner.update_specs([x for x in s if x.name != "lat"])
    assert "lat" not in runner.detectors


async def test_run_loop_on_fake_clock(tmp_path, fake_clock):
    import asyncio

    series = SeriesStore()
    runner = DetectorRunner(specs(tmp_path), engine=Engine(series), series=series, clock=fake_clock)
    feed(series, fake_clock.now(), {"a": 0.1})
    task = asyncio.create_task(runner.run())
    try:
        await fake_clock.run_for(35, step=5)
    finally:
        task.cancel()
    st = runner.detectors["lat"]
    assert st.last_eval is not None and st.last_eval >= fake_clock.now() - 10


BATCH_SPECS = """
detectors:
  - name: dflt
    input: latency_seconds
    algorithm: ensemble
    params: {}
    warmup: 10m
"""


async def test_default_detector_runs_vectorised_persists_and_reuses_slots(tmp_path, fake_clock):
    from watchdog.detect.runner import SlotModel
    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "w.db"), clock=fake_clock)
    await store.open()
    try:
        series = SeriesStore()
        s = specs(tmp_path, BATCH_SPECS)
        runner = DetectorRunner(s, engine=Engine(series), series=series, store=store, clock=fake_clock, forget_after=3600)
        st = runner.detectors["dflt"]
        assert st.batch is not None
        rng = random.Random(7)
        for i in range(400):
            t = fake_clock.now()
            v = {"a": 0.1 + rng.gauss(0, 0.005), "b": 0.2 + rng.gauss(0, 0.005)}
            if i == 390:
                v["a"] = 3.0                       # far outside anything seen
            feed(series, t, v)
            await runner.step(t)
            fake_clock.advance(60.0)
        eng = Engine(series)
        at_spike = fake_clock.now() - 60 * 10
        assert score(series, at_spike, "a", "dflt") > 0.99
        assert score(series, at_spike, "b", "dflt") < 0.9
        ma = st.models[Labels.of(instance="a")]
        assert isinstance(ma.detector, SlotModel) and ma.detector.state()["n"] == 400
        status = {d["detector"]: d for d in runner.status()}["dflt"]
        assert status["health"] == "ok" and all(x["warm"] for x in status["series"])

        # restart: the saved slot state continues where it stopped
        await runner.persist()
        runner2 = DetectorRunner(s, engine=Engine(series), series=series, store=store, clock=fake_clock)
        assert await runner2.restore() == 2
        feed(series, fake_clock.now(), {"a": 0.1, "b": 0.2})
        await runner2.step(fake_clock.now())
        assert runner2.detectors["dflt"].models[Labels.of(instance="a")].detector.state()["n"] == 401

        # a series gone for longer than forget_after frees its slot, and a new series reuses it, fresh
        slot_b = st.models[Labels.of(instance="b")].detector.slot
        for _ in range(70):   # b stays visible for the 5 min lookback, then is forgotten after an hour
            t = fake_clock.now()
            series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.1, t)
            await runner.step(t)
            fake_clock.advance(60.0)
        assert Labels.of(instance="b") not in st.models, st.models
        assert slot_b in st.free_slots, (slot_b, st.free_slots, st.next_slot)
        t = fake_clock.now()
        series.append(Labels.of(__name__="latency_seconds", instance="c"), 0.1, t)
        series.append(Labels.of(__name__="latency_seconds", instance="a"), 0.1, t)
        await runner.step(t)
        mc = st.models[Labels.of(instance="c")]
        assert mc.detector.slot == slot_b and mc.detector.state()["n"] == 1
        assert eng.vector('anomaly_score{detector="dflt", instance="c"}', t)[0].value == 0.0   # warming up
    finally:
        await store.close()


async def test_isolation_forest_refits_in_a_worker_thread_via_the_housekeeping_job(tmp_path, fake_clock):
    import pytest

    pytest.importorskip("sklearn")
    import threading

    from watchdog.detect import isoforest

    text = """
detectors:
  - name: iso
    input: latency_seconds
    algorithm: isolation_forest
    params: {min_train: 40, refit_points: 1000, n_estimators: 10, window: 4}
"""
    series = SeriesStore()
    runner = DetectorRunner(specs(tmp_path, text), engine=Engine(series), series=series, clock=fake_clock)
    jobs = {j.name: j for j in runner.housekeeping_jobs()}
    assert set(jobs) == {"detector-refit", "detector-persist"}
    fitted_in: list[str] = []
    real_fit = isoforest.fit_model

    def spy(features, p):
        fitted_in.append(threading.current_thread().name)
        return real_fit(features, p)

    isoforest.fit_model = spy
    try:
        await run_minutes(runner, series, fake_clock, 50)
        m = runner.detectors["iso"].models[Labels.of(instance="a")]
        assert not m.detector.warm                      # never fitted on the event loop
        await jobs["detector-refit"].run(fake_clock.now())
    finally:
        isoforest.fit_model = real_fit
    assert len(fitted_in) == 2 and threading.main_thread().name not in fitted_in   # a and b, off the loop
    assert m.detector.warm and m.last_refit == fake_clock.now()
    assert {d["detector"]: d for d in runner.status()}["iso"]["series"][0]["last_refit"] == fake_clock.now()
