"""Rules bound to a datasource are evaluated by a real Prometheus (Debian package) on loopback.

Prometheus scrapes a loopback aiohttp target; our RuleManager sends the bound
file's expressions to its /api/v1/query. Skips when the binary is missing,
unless WATCHDOG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import shutil

import pytest
from aiohttp import web

from watchdog.clock import SystemClock
from watchdog.model import AlertState
from watchdog.promql import Engine
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule, RecordingRule, RuleGroup
from watchdog.rules.prometheus_process import PrometheusProcess
from watchdog.rules.remote import PrometheusDatasource
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.env import require_service
from watchdog.tsdb import SeriesStore

pytestmark = pytest.mark.services

EXPOSITION = """# TYPE demo_up gauge
demo_up{service="checkout"} 0
demo_up{service="search"} 1
# TYPE demo_requests_total counter
demo_requests_total{service="checkout"} 42
"""


async def test_bound_rule_file_is_evaluated_by_prometheus(tmp_path):
    require_service("prometheus", shutil.which("prometheus") is not None, "the `prometheus` binary is not installed (apt-get install prometheus)")

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=EXPOSITION, content_type="text/plain")

    app = web.Application()
    app.router.add_get("/metrics", metrics)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    target = f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    prom = PrometheusProcess(tmp_path, [target])
    prom.start()
    ds = PrometheusDatasource("prom", prom.url, timeout=5)
    try:
        await prom.wait_for("demo_up")
        file = "remote/demo.rules.yml"
        group = RuleGroup("remote", file, 10.0, rules=(
            AlertingRule(name="RemoteServiceDown", expr="demo_up == 0", file=file, group="remote", index=0,
                         labels={"severity": "page"}, annotations={"summary": "{{ $labels.service }} on {{ $labels.instance }}"}),
            RecordingRule(record="service:requests:total", expr="sum by (service) (demo_requests_total)", file=file, group="remote", index=1),
            AlertingRule(name="Broken", expr="demo_up + on(job) group_left demo_up", file=file, group="remote", index=2),
        ))
        series = SeriesStore()
        clock = SystemClock()
        store = SqliteStore(str(tmp_path / "watchdog.db"), clock=clock)
        await store.open()
        manager = RuleManager([group], engine=Engine(series), series=series, store=store, clock=clock,
                              datasources={file: ds})
        await manager.evaluate_all(clock.now())
        assert [e.kind for e in await store.events()] == ["alert.firing"]
        await store.close()
        (alert,) = manager.alerts()
        assert alert.state is AlertState.FIRING
        assert alert.labels.to_dict() == {
            "alertname": "RemoteServiceDown", "job": "synthetic", "instance": target, "service": "checkout", "severity": "page",
        }
        assert alert.annotations == {"summary": f"checkout on {target}"}
        recorded = {s.labels.get("service"): s.value for s in Engine(series).vector("service:requests:total", clock.now())}
        assert recorded == {"checkout": 42.0}
        health = {r["name"]: (r["health"], r["lastError"]) for g in manager.health() for r in g["rules"]}
        assert health["RemoteServiceDown"] == ("ok", "") and health["service:requests:total"] == ("ok", "")
        assert health["Broken"][0] == "err" and health["Broken"][1].startswith("datasource prom: execution: ")
        assert "many-to-many" in health["Broken"][1]
    finally:
        await ds.close()
        prom.stop()
        await runner.cleanup()
