"""The real Daemon evaluates a rule file bound to a datasource through a real Prometheus on loopback.

config.yaml binds `remote/*.rules.yml` to `prom` (the Debian `prometheus`
binary, scraping a loopback target) and `slow/*.rules.yml` to `slow` (a
loopback "query API" that never answers). The daemon itself scrapes nothing,
so the alert can only come from Prometheus's data. A datasource that times
out shows in `/api/v1/rules` as that rule's health while the daemon keeps
running; a reload rebinds files to other datasources (or to our engine).
Skips without the binary, unless WATCHDOG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import shutil
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator

import pytest
from aiohttp import web

from watchdog.app import Daemon
from watchdog.rules.prometheus_process import PrometheusProcess
from watchdog.testing.env import require_service

pytestmark = [pytest.mark.services, pytest.mark.timeout(120)]

EXPOSITION = """# TYPE demo_up gauge
demo_up{service="checkout"} 0
demo_up{service="search"} 1
"""

REMOTE_RULES = """groups:
  - name: remote
    rules:
      - alert: RemoteServiceDown
        expr: demo_up == 0
        labels: {severity: page}
        annotations: {summary: "{{ $labels.service }} is down ({{ $value }})"}
      - record: service:demo_up:sum
        expr: sum by (service) (demo_up)
"""

SLOW_RULES = """groups:
  - name: slow
    rules:
      - alert: NeverAnswered
        expr: vector(1)
"""


def write_config(tmp: Path, prom_url: str, slow_url: str, remote_binding: str) -> Path:
    path = tmp / "config.yaml"
    path.write_text(f"""
global: {{evaluation_interval: 1s}}
storage: {{path: {tmp / 'wd.db'}}}
api: {{listen: 127.0.0.1:0}}
targets: []
datasources:
  - {{name: prom, url: "{prom_url}", timeout: 5s}}
  - {{name: slow, url: "{slow_url}", timeout: 500ms, headers: {{Authorization: "Bearer hunter2-secret"}}}}
rule_files:
  - {remote_binding}
  - {{files: [slow/*.rules.yml], datasource: slow}}
""")
    return path


@contextlib.asynccontextmanager
async def loopback(app: web.Application) -> AsyncIterator[str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield f"127.0.0.1:{site._server.sockets[0].getsockname()[1]}"
    finally:
        await runner.cleanup()


def get(url: str) -> Any:
    """Blocking: call it through asyncio.to_thread (the daemon shares this event loop)."""
    with urllib.request.urlopen(url, timeout=10) as resp:
        return json.load(resp)["data"]


async def until(what: str, check, timeout: float = 30.0) -> Any:
    last = None
    for _ in range(int(timeout / 0.2)):
        last = await asyncio.to_thread(check)
        if last:
            return last
        await asyncio.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}; last={last!r}")


def rule_health(base: str) -> dict[str, tuple[str, str]]:
    return {r["name"]: (r["health"], r["lastError"]) for g in get(f"{base}/api/v1/rules")["groups"] for r in g["rules"]}


async def test_daemon_evaluates_bound_files_through_prometheus_and_reload_rebinds(tmp_path):
    require_service("prometheus", shutil.which("prometheus") is not None,
                    "the `prometheus` binary is not installed (apt-get install prometheus)")
    never = asyncio.Event()

    async def metrics(_: web.Request) -> web.Response:
        return web.Response(text=EXPOSITION, content_type="text/plain")

    async def hang(_: web.Request) -> web.Response:
        await never.wait()
        return web.json_response({})

    target_app, slow_app = web.Application(), web.Application()
    target_app.router.add_get("/metrics", metrics)
    slow_app.router.add_post("/api/v1/query", hang)
    for sub in ("remote", "slow"):
        (tmp_path / sub).mkdir()
    (tmp_path / "remote" / "demo.rules.yml").write_text(REMOTE_RULES)
    (tmp_path / "slow" / "never.rules.yml").write_text(SLOW_RULES)

    async with loopback(target_app) as target, loopback(slow_app) as slow:
        (tmp_path / "prom").mkdir()
        prom = PrometheusProcess(tmp_path / "prom", [target])
        prom.start()
        try:
            await prom.wait_for("demo_up")
            bound = "{files: [remote/*.rules.yml], datasource: prom}"
            config = write_config(tmp_path, prom.url, f"http://{slow}", bound)
            daemon = Daemon(str(config), listen="127.0.0.1:0")
            task = asyncio.create_task(daemon.run())
            try:
                await until("the API", lambda: daemon.api_port or task.done())
                assert not task.done(), "daemon stopped during start"
                base = f"http://127.0.0.1:{daemon.api_port}"

                def firing() -> list:
                    return [a for a in get(f"{base}/api/v1/alerts")["alerts"]
                            if a["labels"].get("alertname") == "RemoteServiceDown" and a["state"] == "firing"]

                (alert,) = await until("RemoteServiceDown firing from Prometheus's data", firing)
                # job/instance are Prometheus's scrape labels: the daemon itself scrapes nothing
                assert alert["labels"] == {"alertname": "RemoteServiceDown", "service": "checkout", "severity": "page",
                                           "job": "synthetic", "instance": target}
                assert alert["annotations"] == {"summary": "checkout is down (0)"}
                # the recording rule's answer is written into our store, so our own query API sees it
                recorded = await until("the recorded series", lambda: get(
                    f"{base}/api/v1/query?query=service:demo_up:sum")["result"])
                assert {r["metric"]["service"]: r["value"][1] for r in recorded} == {"checkout": "0", "search": "1"}

                timed_out = ("err", "datasource slow: query timed out after 0.5s")
                health = await until("the slow datasource's timeout as rule health",
                                     lambda: (h := rule_health(base)).get("NeverAnswered") == timed_out and h)
                assert health["RemoteServiceDown"] == ("ok", "") and health["service:demo_up:sum"] == ("ok", "")
                groups = {g["name"]: g for g in (await asyncio.to_thread(get, f"{base}/api/v1/rules"))["groups"]}
                assert groups["remote"]["health"] == "ok"
                assert "hunter2" not in json.dumps(groups)
                assert not task.done(), "a datasource timeout must not stop the daemon"

                # Rebind the Prometheus-bound file to the never-answering datasource: its rules fail
                # (health), and a failing query leaves the firing alert as it was.
                write_config(tmp_path, prom.url, f"http://{slow}", "{files: [remote/*.rules.yml], datasource: slow}")
                assert await daemon.reload() == (True, [])
                await until("RemoteServiceDown failing on slow",
                            lambda: rule_health(base).get("RemoteServiceDown") == timed_out)
                assert len(await asyncio.to_thread(firing)) == 1

                # Unbound, the file runs on our engine: our store has no demo_up, so the alert resolves.
                write_config(tmp_path, prom.url, f"http://{slow}", "remote/*.rules.yml")
                assert await daemon.reload() == (True, [])
                await until("RemoteServiceDown evaluated locally (healthy, resolved)",
                            lambda: rule_health(base).get("RemoteServiceDown") == ("ok", "") and not firing())
                assert (await asyncio.to_thread(rule_health, base))["NeverAnswered"] == timed_out

                # And back onto Prometheus: it fires again from Prometheus's data.
                write_config(tmp_path, prom.url, f"http://{slow}", bound)
                assert await daemon.reload() == (True, [])
                (again,) = await until("RemoteServiceDown firing again after rebinding to prom", firing)
                assert again["labels"]["instance"] == target
                assert not task.done()
            finally:
                daemon.request_stop()
                assert await asyncio.wait_for(task, 30) == 0
            events = [e.kind for e in await _events(tmp_path / "wd.db")]
            assert events.count("alert.firing") == 2 and events.count("alert.resolved") == 1
        finally:
            never.set()
            prom.stop()


async def _events(db: Path) -> list:
    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(db))
    await store.open()
    try:
        return [e for e in await store.events() if e.kind.startswith("alert.")]
    finally:
        await store.close()
