"""The streaming runner: evaluates each detector's input, updates one model per series, writes scores.

At each step and for each detector spec: evaluate `input` (PromQL) at t, and
for every resulting series (labels minus `__name__`) update its model and
write `anomaly_score{detector=..., <input labels>, <spec labels>}` (plus a
forecast's series) through `series.append_batch(f"detector:{name}", ...)`.
A detector that throws is recorded in its health and the others keep running.
Models persist in the Store under `detector:<name>:<fingerprint>` with an
index under `detector:<name>:index`, and are reused after a restart when the
spec is unchanged. Refits (IsolationForest) run in a worker thread.

Algorithms with a batch model (`registry.create_batch`, e.g. the default
ensemble) keep all of a detector's series in one vectorised model, one slot
per series, and are updated in one call per step; each series' `detector`
is then a `SlotModel` view on its slot (state, warm-up, persistence).
"""

from __future__ import annotations

import asyncio
import json
import logging
import math
from dataclasses import dataclass, field
from typing import Any, Sequence

import numpy as np

from watchdog.clock import Clock
from watchdog.detect import metrics
from watchdog.detect.spec import DetectorSpec
from watchdog.model import METRIC_NAME, Labels, is_stale

log = logging.getLogger(__name__)

YIELD_EVERY = 200   # series updated between yields to the event loop


def is_plain_selector(expr: str) -> bool:
    try:
        import promql_parser

        return isinstance(promql_parser.parse(expr), promql_parser.VectorSelector)
    except Exception:
        return False


class SlotModel:
    """One series' view of a batch model: the Detector protocol on slot `slot`."""

    __slots__ = ("batch", "slot", "_index")

    def __init__(self, batch: Any, slot: int) -> None:
        self.batch = batch
        self.slot = slot
        self._index = np.array([slot], dtype=np.int64)

    @property
    def warm(self) -> bool:
        return bool(self.batch.warm(self._index)[0])

    def update(self, t: float, x: float) -> float:
        return float(self.batch.update(self._index, np.array([x], dtype=np.float64))[0])

    def state(self) -> dict[str, Any]:
        return self.batch.state(self.slot)

    def load_state(self, state: dict[str, Any]) -> None:
        self.batch.load_state(self.slot, state)


@dataclass
class SeriesModel:
    labels: Labels                 # input labels without __name__
    detector: Any
    first_seen: float
    last_seen: float
    score: float = 0.0
    last_refit: float | None = None
    refitting: bool = False


@dataclass
class DetectorState:
    spec: DetectorSpec
    models: dict[Labels, SeriesModel] = field(default_factory=dict)
    saved: dict[str, dict[str, Any]] = field(default_factory=dict)   # fingerprint -> persisted blob not yet used
    healthy: bool = True
    last_error: str = ""
    last_eval: float | None = None
    next_due: float = 0.0
    batch: Any = None                    # vectorised model of all series, when the algorithm has one
    free_slots: list[int] = field(default_factory=list)
    next_slot: int = 0
    plain_selector: bool = False         # input is `metric{...}`: each stored sample is fed once

    def __post_init__(self) -> None:
        self.batch = self.spec.new_batch()
        self.plain_selector = is_plain_selector(self.spec.input)

    def take_slot(self) -> int:
        if self.free_slots:
            return self.free_slots.pop()
        slot = self.next_slot
        self.next_slot += 1
        if slot >= self.batch.capacity:
            self.batch.grow(max(2 * self.batch.capacity, slot + 1))
        return slot


class DetectorRunner:
    def __init__(
        self,
        specs: Sequence[DetectorSpec],
        *,
        engine: Any,
        series: Any,
        store: Any = None,
        clock: Clock,
        max_series_per_detector: int = 10_000,
        forget_after: float = 6 * 3600.0,
    ) -> None:
        self.engine = engine
        self.series = series
        self.store = store
        self.clock = clock
        self.max_series = max_series_per_detector
        self.forget_after = forget_after
        self.detectors: dict[str, DetectorState] = {}
        self.update_specs(specs)

    # -- configuration ------------------------------------------------------

    def update_specs(self, specs: Sequence[DetectorSpec]) -> None:
        """Swap in new specs; models of detectors whose spec is unchanged carry over."""
        new: dict[str, DetectorState] = {}
        for spec in specs:
            old = self.detectors.get(spec.name)
            if old is not None and old.spec.identity() == spec.identity():
                old.spec = spec
                new[spec.name] = old
            else:
                new[spec.name] = DetectorState(spec)
        for name in set(self.detectors) - set(new):
            self.series.drop_source(f"detector:{name}", self.clock.now())
            metrics.SERIES_MODELLED.labels(name).set(0)
        self.detectors = new

    # -- evaluation -----------------------------------------------------------

    async def step(self, t: float, names: Sequence[str] | None = None) -> None:
        """Evaluate all detectors (or `names`) once at `t`."""
        with metrics.STEP_SECONDS.time():
            for name, st in list(self.detectors.items()):
                if names is not None and name not in names:
                    continue
                await self._evaluate(st, t)

    async def _evaluate(self, st: DetectorState, t: float) -> None:
        spec = st.spec
        # A plain selector sees a sample again at every step of the 5-minute lookback (a scrape
        # slower than the detector's interval, or a gap): only samples newer than the last
        # evaluation are new data, so a repeated value is not learnt twice. A computed input
        # (rate(), sums) is a new value at every evaluation and keeps its full lookback.
        not_before = st.last_eval if st.plain_selector else None
        try:
            samples = self.engine.vector(spec.input, t, not_before=not_before)
        except Exception as e:  # a bad expression or engine failure is this detector's health
            self._fail(st, f"input evaluation failed: {e}")
            return
        if st.batch is not None:
            await self._evaluate_batch(st, t, samples)
            return
        out: list[tuple[Labels, float]] = []
        errors = 0
        last_error = ""
        for k, sample in enumerate(samples):
            x = sample.value
            if is_stale(x) or not math.isfinite(x):
                continue   # missing/NaN/Inf: the model skips this step
            key = sample.labels.without(METRIC_NAME)
            m = st.models.get(key)
            if m is None:
                if len(st.models) >= self.max_series:
                    errors += 1
                    last_error = f"more than {self.max_series} series; extra series are not modelled"
                    continue
                m = self._new_model(st, key, t)
            try:
                score = float(m.detector.update(t, x))
                extra = m.detector.outputs(t) if hasattr(m.detector, "outputs") else []
            except Exception as e:
                errors += 1
                last_error = f"model update failed for {key!r}: {type(e).__name__}: {e}"
                continue
            m.last_seen = t
            if t - m.first_seen < spec.warmup or not m.detector.warm:
                score = 0.0
            m.score = score
            base = key.merged(spec.labels).merged({"detector": spec.name})
            out.append((base.merged({METRIC_NAME: "anomaly_score"}), score))
            for metric, labels, value in extra:
                out.append((base.merged(labels).merged({METRIC_NAME: metric}), value))
            if k % YIELD_EVERY == YIELD_EVERY - 1:
                await asyncio.sleep(0)
        self._finish(st, t, out, len(samples), errors, last_error)

    async def _evaluate_batch(self, st: DetectorState, t: float, samples: Sequence[Any]) -> None:
        """All of the detector's series in one vectorised update."""
        spec = st.spec
        models: list[SeriesModel] = []
        values: list[float] = []
        seen: set[Labels] = set()
        errors = 0
        last_error = ""
        wanted = min(len(st.models) + len(samples), self.max_series)
        if wanted > st.batch.capacity:
            st.batch.grow(wanted)   # one allocation for a burst of new series, not one doubling after another
        for k, sample in enumerate(samples):
            if k % YIELD_EVERY == YIELD_EVERY - 1 and len(st.models) < wanted:
                await asyncio.sleep(0)   # creating (restoring) many models at once must not stall the loop
            x = sample.value
            if is_stale(x) or not math.isfinite(x):
                continue
            key = sample.labels.without(METRIC_NAME)
            if key in seen:
                continue   # two input series that differ only in __name__: one model, first one wins
            seen.add(key)
            m = st.models.get(key)
            if m is None:
                if len(st.models) >= self.max_series:
                    errors += 1
                    last_error = f"more than {self.max_series} series; extra series are not modelled"
                    continue
                m = self._new_model(st, key, t)
            models.append(m)
            values.append(x)
        out: list[tuple[Labels, float]] = []
        if models:
            slots = np.fromiter((m.detector.slot for m in models), dtype=np.int64, count=len(models))
            order = np.argsort(slots, kind="stable")
            try:
                scores = np.empty(len(models))
                scores[order] = st.batch.update(slots[order], np.asarray(values, dtype=np.float64)[order])
                warm = np.empty(len(models), dtype=bool)
                warm[order] = st.batch.warm(slots[order])
            except Exception as e:   # the whole batch failed: this detector's health, not the daemon's
                self._fail(st, f"model update failed: {type(e).__name__}: {e}")
                return
            suffix = {**spec.labels, "detector": spec.name, METRIC_NAME: "anomaly_score"}
            for m, score, ok in zip(models, scores.tolist(), warm.tolist()):
                m.last_seen = t
                if not ok or t - m.first_seen < spec.warmup:
                    score = 0.0
                m.score = score
                out.append((m.labels.merged(suffix), score))
        self._finish(st, t, out, len(samples), errors, last_error)

    def _finish(self, st: DetectorState, t: float, out: list[tuple[Labels, float]], points: int, errors: int, last_error: str) -> None:
        spec = st.spec
        self.series.append_batch(f"detector:{spec.name}", out, t)
        self._forget(st, t)
        metrics.POINTS.labels(spec.name).inc(points)
        metrics.SERIES_MODELLED.labels(spec.name).set(len(st.models))
        st.last_eval = t
        if errors:
            self._fail(st, last_error)
        else:
            if not st.healthy:
                log.info("detector %s healthy again", spec.name)
            st.healthy, st.last_error = True, ""
            metrics.HEALTHY.labels(spec.name).set(1)

    def _new_model(self, st: DetectorState, key: Labels, t: float) -> SeriesModel:
        det = SlotModel(st.batch, st.take_slot()) if st.batch is not None else st.spec.new_detector()
        if hasattr(det, "inline_refit"):
            det.inline_refit = False  # refits go to a worker thread (refit())
        first_seen = t
        blob = st.saved.pop(key.fingerprint(), None)
        if blob is not None:
            try:
                det.load_state(blob["state"])
                first_seen = float(blob.get("first_seen", t))
            except Exception as e:  # an unusable saved model: start fresh, say why
                log.warning("detector %s: saved model for %r not restored: %s", st.spec.name, key, e)
                if isinstance(det, SlotModel):
                    st.batch.reset(det.slot)
                else:
                    det = st.spec.new_detector()
        m = SeriesModel(key, det, first_seen, t)
        st.models[key] = m
        return m

    def _forget(self, st: DetectorState, t: float) -> None:
        gone = [k for k, m in st.models.items() if t - m.last_seen > self.forget_after]
        for k in gone:
            det = st.models.pop(k).detector
            if isinstance(det, SlotModel):
                st.batch.reset(det.slot)
                st.free_slots.append(det.slot)

    def _fail(self, st: DetectorState, message: str) -> None:
        if st.healthy or st.last_error != message:
            log.warning("detector %s: %s", st.spec.name, message)
        st.healthy, st.last_error = False, message
        metrics.ERRORS.labels(st.spec.name).inc()
        metrics.HEALTHY.labels(st.spec.name).set(0)

    async def run(self) -> None:
        """Evaluate each detector on its own interval, on the injected clock, until cancelled."""
        while True:
            now = self.clock.now()
            due = [n for n, st in self.detectors.items() if st.next_due <= now]
            if due:
                try:
                    await self.step(now, due)
                except Exception as e:   # a bug in one step must not end the daemon's task group
                    log.exception("detector step failed")
                    for n in due:
                        st = self.detectors.get(n)
                        if st is not None:
                            self._fail(st, f"step failed: {type(e).__name__}: {e}")
                for n in due:
                    st = self.detectors.get(n)
                    if st is not None:
                        st.next_due = now + st.spec.interval
            nxt = min((st.next_due for st in self.detectors.values()), default=now + 10.0)
            await self.clock.sleep(max(nxt - self.clock.now(), 0.05))

    # -- refits (off the event loop) -----------------------------------------

    async def refit(self, now: float) -> int:
        """Refit every model that asks for it, each in a worker thread; returns how many were refitted."""
        done = 0
        for st in list(self.detectors.values()):
            for m in list(st.models.values()):
                det = m.detector
                if m.refitting or not hasattr(det, "needs_refit") or not det.needs_refit():
                    continue
                m.refitting = True
                try:
                    from watchdog.detect.isoforest import fit_model

                    model = await asyncio.to_thread(fit_model, det.fit_snapshot(), det.p)
                    det.install(model)
                    m.last_refit = now
                    done += 1
                    metrics.REFITS.labels(st.spec.name, "ok").inc()
                except Exception as e:
                    metrics.REFITS.labels(st.spec.name, "failed").inc()
                    self._fail(st, f"refit failed: {type(e).__name__}: {e}")
                finally:
                    m.refitting = False
        return done

    def housekeeping_jobs(self, persist_every: float = 300.0, refit_every: float = 60.0) -> list[Any]:
        """APScheduler jobs for watchdog.housekeeping.Housekeeping: refits (only of the models that ask
        for one, so a frequent check is cheap) and model persistence."""
        from watchdog.housekeeping import HousekeepingJob

        async def persist(now: float) -> None:
            await self.persist()

        return [
            HousekeepingJob("detector-refit", refit_every, self.refit),
            HousekeepingJob("detector-persist", persist_every, persist),
        ]

    # -- persistence -----------------------------------------------------------

    async def persist(self) -> None:
        """Save every model (and the per-detector index) in the Store."""
        if self.store is None:
            return
        for name, st in self.detectors.items():
            index = {"identity": list(st.spec.identity()), "series": []}
            for key, m in st.models.items():
                fp = key.fingerprint()
                try:
                    blob = {"labels": key.to_dict(), "first_seen": m.first_seen, "state": m.detector.state()}
                    text = json.dumps(blob, allow_nan=True)
                except Exception as e:
                    self._fail(st, f"model of {key!r} not saved: {type(e).__name__}: {e}")
                    continue
                await self.store.kv_set(f"detector:{name}:{fp}", text)
                index["series"].append(fp)
            await self.store.kv_set(f"detector:{name}:index", json.dumps(index))

    async def restore(self) -> int:
        """Load saved models of unchanged specs; they are used when their series next appears."""
        if self.store is None:
            return 0
        n = 0
        for name, st in self.detectors.items():
            raw = await self.store.kv_get(f"detector:{name}:index")
            if not raw:
                continue
            try:
                index = json.loads(raw)
            except ValueError:
                continue
            if tuple(index.get("identity", ())) != st.spec.identity():
                continue   # the spec changed: old models do not fit
            for fp in index.get("series", []):
                text = await self.store.kv_get(f"detector:{name}:{fp}")
                if text:
                    try:
                        st.saved[fp] = json.loads(text)
                        n += 1
                    except ValueError:
                        pass
        return n

    # -- introspection ----------------------------------------------------------

    def status(self) -> list[dict[str, Any]]:
        """For GET /api/v1/detectors: one entry per detector with its series."""
        out = []
        for name, st in self.detectors.items():
            out.append({
                "detector": name,
                "algorithm": st.spec.algorithm,
                "input": st.spec.input,
                "health": "ok" if st.healthy else "error",
                "last_error": st.last_error,
                "last_evaluation": st.last_eval,
                "series": [
                    {
                        "labels": m.labels.to_dict(),
                        "score": m.score,
                        "warm": bool(m.detector.warm) and (m.last_seen - m.first_seen) >= st.spec.warmup,
                        "first_seen": m.first_seen,
                        "last_refit": m.last_refit,
                    }
                    for m in st.models.values()
                ],
            })
        return out
