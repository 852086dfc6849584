"""/readyz on the real daemon (in this process, loopback, port 0): 200 once running, 503 while draining.

The drain is held open by a webhook receiver that never answers, so the window is observable."""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request

from aiohttp import web

from watchdog.app import Daemon


def get_status(url: str) -> int:
    try:
        with urllib.request.urlopen(url, timeout=5) as resp:
            return resp.status
    except urllib.error.HTTPError as e:
        return e.code


async def test_readyz_is_200_when_running_and_503_while_draining(tmp_path):
    hook_called = asyncio.Event()

    async def never_answers(request: web.Request) -> web.Response:
        hook_called.set()
        await asyncio.sleep(60)
        return web.Response()

    app = web.Application()
    app.router.add_post("/hook", never_answers)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    hook = f"http://127.0.0.1:{runner.addresses[0][1]}/hook"

    (tmp_path / "always.rules.yml").write_text(
        "groups:\n  - name: always\n    interval: 100ms\n    rules:\n      - alert: Always\n        expr: vector(1)\n")
    (tmp_path / "config.yaml").write_text(f"""\
global: {{evaluation_interval: 100ms}}
storage: {{path: ./watchdog.db}}
targets:
  - {{name: self, type: tcp, address: "127.0.0.1:9", interval: 200ms, timeout: 100ms}}
rule_files: [always.rules.yml]
alerting:
  route: {{receiver: hook, group_wait: 0s, group_interval: 1s}}
  receivers: [{{name: hook, webhook_configs: [{{url: {json.dumps(hook)}, timeout: 30s}}]}}]
daemon: {{drain_timeout: 2s}}
""")
    daemon = Daemon(str(tmp_path / "config.yaml"), listen="127.0.0.1:0")
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(500):
            if daemon.api_port and daemon.ready:
                break
            assert not task.done(), "daemon stopped during start"
            await asyncio.sleep(0.02)
        base = f"http://127.0.0.1:{daemon.api_port}"
        assert await asyncio.to_thread(get_status, base + "/readyz") == 200
        await asyncio.wait_for(hook_called.wait(), 10)  # a notice is in flight: the drain has to wait for it

        daemon.request_stop()
        await asyncio.sleep(0.3)
        assert not task.done()
        assert await asyncio.to_thread(get_status, base + "/readyz") == 503
        assert await asyncio.to_thread(get_status, base + "/healthz") == 200  # still serving
        assert await asyncio.wait_for(task, 10) == 0  # the drain is bounded (2 s) even though the hook never answers
    finally:
        if not task.done():
            daemon.request_stop()
            await asyncio.wait_for(task, 15)
        await runner.cleanup()
