"""The `damping:` section and `alerting_file` through the real Daemon, in this process, on loopback (port 0).

The daemon reads config.yaml, builds the dispatcher, serves the API; alerts come
in through POST /api/v2/alerts as an existing Prometheus would send them.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from pathlib import Path
from typing import Any, AsyncIterator

from watchdog.alerting.damping import FlapSettings, StormSettings
from watchdog.app import Daemon

TOKEN = "t0ken-for-tests"


def write_config(tmp_path: Path, damping: str) -> Path:
    (tmp_path / "token").write_text(TOKEN)
    path = tmp_path / "config.yaml"
    path.write_text(f"""
storage: {{path: {tmp_path / 'wd.db'}}}
api: {{listen: 127.0.0.1:0, token_file: token}}
targets: []
alerting:
  route: {{receiver: oncall, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers: [{{name: oncall, log_configs: [{{}}]}}]
{damping}
""")
    return path


@contextlib.asynccontextmanager
async def running(config: Path) -> AsyncIterator[Daemon]:
    daemon = Daemon(str(config), listen="127.0.0.1:0")
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(750):
            assert not task.done(), "daemon stopped during start"
            if daemon.api_port and daemon.dispatcher is not None:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("daemon did not start listening")
        yield daemon
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)


def call(method: str, url: str, body: Any = None) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers={
        "Content-Type": "application/json", "Authorization": f"Bearer {TOKEN}"})
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read() or b"null")
    except urllib.error.HTTPError as e:
        return e.code, json.loads(e.read() or b"null")


async def test_damping_section_reaches_the_dispatcher_and_reload_updates_it(tmp_path):
    config = write_config(tmp_path, """
damping:
  flapping: {max_flips: 2, window: 5m, quiet: 1m}
  storm: {max_new_groups: 3, window: 30s}
""")
    async with running(config) as daemon:
        assert daemon.dispatcher.damping_settings == (
            FlapSettings(enabled=True, max_flips=2, window=300.0, quiet=60.0), StormSettings(enabled=True, max_new_groups=3, window=30.0))
        base = f"http://127.0.0.1:{daemon.api_port}"
        alerts = [{"labels": {"alertname": f"Down{i}", "instance": f"h{i}"}} for i in range(5)]
        status, _ = await asyncio.to_thread(call, "POST", f"{base}/api/v2/alerts", alerts)
        assert status == 200
        storms: list = []
        for _ in range(250):                    # the dispatcher's loop runs on the real clock; group_wait is 0s
            _, body = await asyncio.to_thread(call, "GET", f"{base}/api/v1/groups")
            storms = body["data"]["storms"]
            if storms:
                break
            await asyncio.sleep(0.02)
        assert [(s["receiver"], s["alerts"]) for s in storms] == [("oncall", 5)]   # 5 new groups > 3: one summary

        config.write_text(config.read_text().replace("max_new_groups: 3", "max_new_groups: 50").replace("max_flips: 2", "enabled: false"))
        ok, errors = await daemon.reload()
        assert ok, errors
        flap, storm = daemon.dispatcher.damping_settings
        assert (flap.enabled, storm.max_new_groups) == (False, 50)


async def test_v2_alerts_go_through_routing_escalation_and_remediation(tmp_path):
    """What an existing Prometheus sends to Alertmanager reaches our policy, our groups and a real remediation run."""
    script = tmp_path / "fix.py"
    script.write_text("import sys, pathlib\npathlib.Path(sys.argv[1]).write_text(sys.argv[2])\n")
    marker = tmp_path / "fixed.txt"
    (tmp_path / "fix.yml").write_text(f"""
remediations:
  - name: fix-disk
    match: ['alertname="DiskFull"']
    action:
      type: command
      argv: [{__import__('sys').executable}, {script}, {marker}, "{{{{ $labels.instance }}}}"]
      timeout: 10s
""")
    config = write_config(tmp_path, """
remediation_files: [fix.yml]
escalation_policies:
  - name: db-policy
    levels:
      - {after: 0s, receivers: [oncall]}
      - {after: 1h, receivers: [lead]}
""")
    config.write_text(config.read_text().replace("receiver: oncall,", "receiver: db-policy,").replace(
        "receivers: [{name: oncall, log_configs: [{}]}]",
        "receivers: [{name: oncall, log_configs: [{}]}, {name: lead, log_configs: [{}]}]"))
    async with running(config) as daemon:
        base = f"http://127.0.0.1:{daemon.api_port}"
        status, _ = await asyncio.to_thread(call, "POST", f"{base}/api/v2/alerts", [
            {"labels": {"alertname": "DiskFull", "instance": "db-1"}, "annotations": {"summary": "disk"},
             "startsAt": "2024-01-01T00:00:00Z", "endsAt": "2999-01-01T00:00:00Z", "generatorURL": "http://prom/graph?g0.expr=x"}])
        assert status == 200
        group: dict = {}
        for _ in range(500):
            _, body = await asyncio.to_thread(call, "GET", f"{base}/api/v1/groups")
            group = next(iter(body["data"]["groups"]), {})
            if marker.exists() and (group.get("escalation") or {}).get("level") == 0:
                break
            await asyncio.sleep(0.02)
        assert marker.read_text() == "db-1"                                  # remediated, label value as one argument
        assert group["escalation"]["policy"] == "db-policy" and group["receivers"] == ["oncall"]
        assert group["alerts"][0]["annotations"] == {"summary": "disk"}
        _, body = await asyncio.to_thread(call, "GET", f"{base}/api/v1/events?limit=1000")
        kinds = {e["kind"] for e in body["data"]["events"]}
        assert {"notification.sent", "remediation.started"} <= kinds
