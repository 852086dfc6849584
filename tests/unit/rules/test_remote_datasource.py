"""Rules bound to a remote Prometheus-compatible API: answers, and failures as rule health (loopback server)."""

from __future__ import annotations

import asyncio

import pytest
from aiohttp import web

from rules_memstore import MemoryStore
from watchdog.model import AlertState, Labels
from watchdog.promql import Engine
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule, RecordingRule, RuleGroup
from watchdog.rules.remote import PrometheusDatasource, RemoteQueryError
from watchdog.tsdb import SeriesStore

T0 = 1_700_000_000.0


@pytest.fixture
async def remote():
    hang = asyncio.Event()
    seen: list[dict] = []

    async def query(request: web.Request) -> web.Response:
        form = dict(await request.post())
        seen.append({"form": form, "auth": request.headers.get("Authorization")})
        expr = form["query"]
        if expr == "hang":
            await hang.wait()
        if expr == "bad(":
            return web.json_response({"status": "error", "errorType": "bad_data", "error": "parse error"}, status=400)
        if expr == "html":
            return web.Response(status=502, text="<html>bad gateway</html>")
        if expr == "scalar(1)":
            return web.json_response({"status": "success", "data": {"resultType": "scalar", "result": [float(form["time"]), "1"]}})
        if expr == "range":
            return web.json_response({"status": "success", "data": {"resultType": "matrix", "result": []}})
        result = [{"metric": {"__name__": "up", "job": "api", "instance": "a:1"}, "value": [float(form["time"]), "0"]},
                  {"metric": {"__name__": "up", "job": "api", "instance": "b:1"}, "value": [float(form["time"]), "+Inf"]}]
        return web.json_response({"status": "success", "data": {"resultType": "vector", "result": result}})

    app = web.Application()
    app.router.add_post("/api/v1/query", query)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}", seen
    hang.set()
    await runner.cleanup()


async def test_vector_scalar_and_errors(remote):
    url, seen = remote
    ds = PrometheusDatasource("prom", url, timeout=0.5, headers={"Authorization": "Bearer s3cret"})
    try:
        got = await ds.vector("up", T0)
        assert [(s.labels.to_dict()["instance"], s.value) for s in got] == [("a:1", 0.0), ("b:1", float("inf"))]
        assert seen[0] == {"form": {"query": "up", "time": f"{T0:.3f}"}, "auth": "Bearer s3cret"}
        assert [s.value for s in await ds.vector("scalar(1)", T0)] == [1.0]
        for expr, message in [
            ("bad(", "datasource prom: bad_data: parse error"),
            ("html", "datasource prom: HTTP 502, not a query API answer"),
            ("range", "datasource prom: expression must give an instant vector or scalar, got matrix"),
            ("hang", "datasource prom: query timed out after 0.5s"),
        ]:
            with pytest.raises(RemoteQueryError) as exc:
                await ds.vector(expr, T0)
            assert str(exc.value) == message
            assert "s3cret" not in str(exc.value)
    finally:
        await ds.close()
    closed = PrometheusDatasource("gone", "http://127.0.0.1:1", timeout=0.5)
    with pytest.raises(RemoteQueryError, match="^datasource gone: ClientConnectorError"):
        await closed.vector("up", T0)
    await closed.close()


async def test_manager_evaluates_bound_files_remotely_and_failures_become_health(remote, fake_clock):
    url, _ = remote
    remote_rules = RuleGroup("r", "remote.rules.yml", 10.0, rules=(
        AlertingRule(name="RemoteDown", expr="up == 0", file="remote.rules.yml", group="r", index=0,
                     annotations={"summary": "{{ $labels.instance }} down"}),
        RecordingRule(record="remote:up", expr="up", file="remote.rules.yml", group="r", index=1),
        AlertingRule(name="Hangs", expr="hang", file="remote.rules.yml", group="r", index=2),
    ))
    local_rules = RuleGroup("l", "local.rules.yml", 10.0, rules=(
        AlertingRule(name="LocalUp", expr="vector(1)", file="local.rules.yml", group="l", index=0),
    ))
    series = SeriesStore()
    ds = PrometheusDatasource("prom", url, timeout=0.3)
    manager = RuleManager(
        [remote_rules, local_rules], engine=Engine(series), series=series, store=MemoryStore(), clock=fake_clock,
        datasources={"remote.rules.yml": ds},
    )
    try:
        await manager.evaluate_all(T0)
    finally:
        await ds.close()
    # the loopback API answers every query with the same two series
    remote_down = sorted((a.annotations["summary"], a.state) for a in manager.alerts() if a.labels.get("alertname") == "RemoteDown")
    assert remote_down == [("a:1 down", AlertState.FIRING), ("b:1 down", AlertState.FIRING)]
    alerts = {a.labels.get("alertname"): a for a in manager.alerts()}
    assert "LocalUp" in alerts   # the local group is evaluated by the engine, after the remote failure
    assert series.select_labels([]) and Labels.of(__name__="remote:up", job="api", instance="a:1") in series.select_labels([])
    health = {r["name"]: (r["health"], r["lastError"]) for g in manager.health() for r in g["rules"]}
    assert health["Hangs"] == ("err", "datasource prom: query timed out after 0.3s")
    assert health["RemoteDown"] == ("ok", "") and health["LocalUp"] == ("ok", "")


async def test_a_hanging_datasource_delays_only_its_own_groups(remote, fake_clock):
    """run(): a remote group waits on its datasource in its own task; local groups keep their interval,
    the remote group skips iterations while its query is in flight, and stopping cancels it cleanly."""
    url, seen = remote
    hanging = RuleGroup("h", "remote.rules.yml", 10.0, rules=(
        AlertingRule(name="Hangs", expr="hang", file="remote.rules.yml", group="h", index=0),))
    local = RuleGroup("l", "local.rules.yml", 10.0, rules=(
        RecordingRule(record="local:one", expr="vector(1)", file="local.rules.yml", group="l", index=0),))
    series = SeriesStore()
    ds = PrometheusDatasource("prom", url, timeout=3600)   # real time: the query hangs for the whole test
    manager = RuleManager([hanging, local], engine=Engine(series), series=series, store=MemoryStore(),
                          clock=fake_clock, datasources={"remote.rules.yml": ds})
    local_evaluations: list[float] = []
    original = manager._evaluate_group

    async def spy(gs, t):
        if gs.group.name == "l":
            local_evaluations.append(t)
        await original(gs, t)

    manager._evaluate_group = spy
    task = asyncio.create_task(manager.run())
    try:
        await fake_clock.run_for(60, step=1.0)
        for _ in range(50):           # let the loopback server see the request
            if seen:
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await ds.close()
    assert len(local_evaluations) >= 5, local_evaluations
    assert [s["form"]["query"] for s in seen] == ["hang"]   # one query in flight, not one per iteration
    (gs_hanging,) = [gs for gs in manager._groups if gs.group.name == "h"]
    assert gs_hanging.in_flight is not None and gs_hanging.in_flight.cancelled()
    health = {r["name"]: r["health"] for g in manager.health() for r in g["rules"]}
    assert health == {"Hangs": "unknown", "local:one": "ok"}


async def test_persist_writes_what_a_cancelled_round_left(fake_clock):
    """The daemon calls persist() after stopping the rule loop: queued events reach the store."""
    store = MemoryStore()
    series = SeriesStore()
    group = RuleGroup("g", "g.yml", 10.0, rules=(AlertingRule(name="Up", expr="vector(1)", file="g.yml", group="g"),))
    manager = RuleManager([group], engine=Engine(series), series=series, store=store, clock=fake_clock)
    await manager._evaluate_group(manager._groups[0], T0)      # a round stopped before its flush
    assert [e.kind for e in await store.events()] == []
    await manager.persist()
    assert [e.kind for e in await store.events()] == ["alert.firing"]
    assert [r.state for r in await store.load_alerts()] == ["firing"]
