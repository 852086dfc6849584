"""`alertmanager_configs` forwards alerts to a REAL Alertmanager (apt: prometheus-alertmanager) on loopback.

Checked on the Alertmanager's own API (`GET /api/v2/alerts`): the forwarded alert arrives with
our labels, annotations and start time; a resolved notice ends it there; a dead first peer is
skipped for the next one; a cluster that is down is a retryable failure, not a drop.
"""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import time

import aiohttp
import pytest

from watchdog.notify.alertmanager import AlertmanagerNotifier
from watchdog.notify.base import RetryableError
from watchdog.testing.env import require_service
from watchdog.testing.fakeclock import FakeClock

from notify_channel_helpers import alert, notice, receiver_cfg

BINARY = shutil.which("prometheus-alertmanager") or shutil.which("alertmanager")
AM_CONFIG = "route:\n  receiver: blackhole\nreceivers:\n  - name: blackhole\n"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture
async def alertmanager(tmp_path):
    require_service("prometheus-alertmanager", BINARY is not None,
                    "not on PATH (apt-get install -y prometheus-alertmanager)")
    assert BINARY is not None
    (tmp_path / "am.yml").write_text(AM_CONFIG)
    for _ in range(3):   # a port picked free may be taken before Alertmanager binds it: try another
        port = _free_port()
        proc = subprocess.Popen(
            [BINARY, f"--config.file={tmp_path / 'am.yml'}", f"--storage.path={tmp_path / 'data'}",
             f"--web.listen-address=127.0.0.1:{port}", "--cluster.listen-address=", "--log.level=warn"],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            deadline = time.monotonic() + 20
            while time.monotonic() < deadline and proc.poll() is None:
                try:
                    async with session.get(base + "/-/ready") as resp:
                        if resp.status == 200:
                            break
                except aiohttp.ClientError:
                    pass
                await asyncio.sleep(0.1)
        if proc.poll() is None:
            break
    else:
        pytest.fail(f"alertmanager did not start: {proc.stderr.read().decode()[-500:] if proc.stderr else ''}")
    try:
        yield base
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
        if proc.stderr:
            proc.stderr.close()


async def _alerts(base: str) -> list[dict]:
    async with aiohttp.ClientSession() as session:
        async with session.get(base + "/api/v2/alerts") as resp:
            assert resp.status == 200
            return await resp.json()


def _notifier(*urls: str) -> AlertmanagerNotifier:
    cfg = receiver_cfg(alertmanager_configs=[{"urls": list(urls), "timeout": "5s"}]).alertmanager_configs[0]
    return AlertmanagerNotifier(cfg, receiver="oncall", clock=FakeClock())


async def test_forwarded_alert_arrives_then_resolves(alertmanager):
    start = float(int(time.time()) - 60)
    n = _notifier(alertmanager)
    try:
        await n.send(notice(alert(start=start, team="web")))
        (got,) = await _alerts(alertmanager)
        assert got["labels"] == {"alertname": "DemoDown", "instance": "demo:80", "severity": "critical", "team": "web"}
        assert got["annotations"]["summary"] == "demo is down"
        assert got["annotations"]["runbook_url"] == "https://runbooks.example/demo"
        assert got["status"]["state"] == "active"
        assert got["generatorURL"] == "http://prom/graph"
        assert got["startsAt"].startswith(time.strftime("%Y-%m-%dT%H:%M", time.gmtime(start)))
        # resolved: Alertmanager ends the alert and no longer lists it as active
        await n.send(notice(alert(status="resolved", start=start, end=time.time() - 1, team="web")))
        assert await _alerts(alertmanager) == []
    finally:
        await n.close()


async def test_dead_peer_is_skipped_and_down_cluster_is_retryable(alertmanager):
    dead = f"http://127.0.0.1:{_free_port()}"
    n = _notifier(dead, alertmanager)
    try:
        await n.send(notice(alert(start=time.time() - 5)))
    finally:
        await n.close()
    assert [a["labels"]["alertname"] for a in await _alerts(alertmanager)] == ["DemoDown"]
    down = _notifier(dead)
    try:
        with pytest.raises(RetryableError) as err:
            await down.send(notice())
        assert err.value.reason == "network"
    finally:
        await down.close()
