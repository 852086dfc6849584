"""/api/v1/query and /api/v1/query_range over the real series store and PromQL engine."""

from __future__ import annotations

import pytest

from watchdog.model import Labels
from watchdog.promql.engine import Engine
from watchdog.tsdb.store import SeriesStore

T0 = 1_700_000_000.0


@pytest.fixture
def with_engine(api):
    ctx, session = api
    series = SeriesStore()
    for i in range(5):
        t = T0 + 10 * i
        series.append_batch("demo", [(Labels.of(__name__="probe_success", target="demo"), 1.0 if i < 3 else 0.0)], t)
    ctx.engine = Engine(series)
    return ctx, session


async def test_instant_vector(with_engine, fake_clock):
    _, session = with_engine
    async with session.get("/api/v1/query", params={"query": "probe_success == 0", "time": str(T0 + 40)}) as r:
        body = await r.json()
    assert r.status == 200
    assert body == {"status": "success", "data": {"resultType": "vector", "result": [
        {"metric": {"__name__": "probe_success", "target": "demo"}, "value": [T0 + 40, "0"]}]}}


async def test_instant_scalar_defaults_to_clock_now(with_engine, fake_clock):
    _, session = with_engine
    async with session.post("/api/v1/query", data={"query": "1 + 1.5"}) as r:
        body = await r.json()
    assert body["data"] == {"resultType": "scalar", "result": [fake_clock.now(), "2.5"]}


async def test_range(with_engine):
    _, session = with_engine
    params = {"query": "probe_success", "start": str(T0), "end": "2023-11-14T22:14:00Z", "step": "20s"}
    async with session.get("/api/v1/query_range", params=params) as r:
        body = await r.json()
    assert r.status == 200
    assert body["data"]["resultType"] == "matrix"
    assert body["data"]["result"] == [{"metric": {"__name__": "probe_success", "target": "demo"},
                                       "values": [[T0, "1"], [T0 + 20, "1"], [T0 + 40, "0"]]}]


@pytest.mark.parametrize("path, params", [
    ("/api/v1/query", {"query": "probe_success{"}),
    ("/api/v1/query", {"query": ""}),
    ("/api/v1/query", {"query": "up", "time": "noon"}),
    ("/api/v1/query_range", {"query": "up", "start": "1", "end": "0", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "100000", "step": "1"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10", "step": "0"}),
    ("/api/v1/query_range", {"query": "up", "start": "0", "end": "10"}),
])
async def test_bad_data(with_engine, path, params):
    _, session = with_engine
    async with session.get(path, params=params) as r:
        body = await r.json()
    assert r.status == 400, body
    assert body["status"] == "error" and body["errorType"] == "bad_data" and body["error"]


async def test_invalid_timeout_is_bad_data(with_engine):
    _, session = with_engine
    async with session.get("/api/v1/query", params={"query": "up", "timeout": "soon"}) as r:
        body = await r.json()
    assert r.status == 400 and body["errorType"] == "bad_data"
    assert 'invalid parameter "timeout"' in body["error"]


class _RunningClock:
    """Monotonic time that moves a second every time it is read (a query that takes forever)."""

    def __init__(self, now: float) -> None:
        self._now, self._mono = now, 0.0

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        self._mono += 1.0
        return self._mono


async def test_query_past_its_timeout_answers_503_timeout(with_engine):
    ctx, session = with_engine
    ctx.clock = _RunningClock(T0 + 40)
    async with session.get("/api/v1/query_range", params={
        "query": "probe_success", "start": str(T0), "end": str(T0 + 40), "step": "1", "timeout": "3s",
    }) as r:
        body = await r.json()
    assert r.status == 503 and body["errorType"] == "timeout", body
    # the same query with room to finish succeeds
    async with session.get("/api/v1/query_range", params={
        "query": "probe_success", "start": str(T0), "end": str(T0 + 2), "step": "1", "timeout": "1m",
    }) as r:
        assert r.status == 200
