"""The dead-man's switch: heartbeat pings gated on rule-evaluation health, the Watchdog alert, config."""

from __future__ import annotations

import asyncio
import logging

import pytest
from aiohttp import web

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.app import LOOP_STALL_SLACK, Daemon
from watchdog.config.loader import load_config
from watchdog.config.models import Config
from watchdog.notify.delivery import policy_from_options
from watchdog.notify.heartbeat import Heartbeat, watchdog_alert
from watchdog.notify.settings import HeartbeatConfig
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0
PING_TOKEN = "0b7c5a8e-hc-ping-token"


class PingServer:
    def __init__(self, status: int = 200) -> None:
        self.status = status
        self.pings: list[tuple[str, str]] = []
        self.hooks: list[dict] = []

    async def ping(self, request: web.Request) -> web.Response:
        self.pings.append((request.method, request.path))
        return web.Response(status=self.status, text="OK")

    async def hook(self, request: web.Request) -> web.Response:
        self.hooks.append(await request.json())
        return web.Response(text="ok")


@pytest.fixture
async def server():
    srv = PingServer()
    app = web.Application()
    app.router.add_route("*", "/ping/{token}", srv.ping)
    app.router.add_post("/hook", srv.hook)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.port = site._server.sockets[0].getsockname()[1]  # type: ignore[attr-defined]
    yield srv
    await runner.cleanup()


async def until(condition, what: str, timeout: float = 5.0) -> None:
    # The HTTP round trip is real, so poll briefly (the clock is fake).
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0.005)


async def test_pings_while_healthy_and_stop_when_the_loop_stalls(server, caplog):
    clock = FakeClock(T0)
    healthy = {"ok": True}
    cfg = HeartbeatConfig.model_validate({"url": f"http://127.0.0.1:{server.port}/ping/{PING_TOKEN}", "interval": "30s",
                                          "method": "POST"})
    hb = Heartbeat(lambda: cfg, lambda: healthy["ok"], clock=clock)
    task = asyncio.create_task(hb.run())
    try:
        await until(lambda: len(server.pings) == 1, "the first ping")
        assert server.pings[0] == ("POST", f"/ping/{PING_TOKEN}")
        await settle()                 # the client finished the ping and sleeps on the clock
        clock.advance(30)
        await until(lambda: len(server.pings) == 2, "the second ping")
        with caplog.at_level(logging.INFO, logger="watchdog.notify"):
            healthy["ok"] = False      # the evaluation loop stalls: no more pings, as if the daemon were dead
            for _ in range(3):
                clock.advance(30)
                await settle()
            assert len(server.pings) == 2 and hb.skipped == 3
            healthy["ok"] = True
            await settle()
            clock.advance(30)
            await until(lambda: len(server.pings) == 3, "the ping after recovery")
        messages = [r.getMessage() for r in caplog.records]
        assert any("is stuck; pings withheld" in m for m in messages)
        assert any("completes rounds again; pings resumed" in m for m in messages)
        assert hb.pings_ok == 3 and hb.pings_failed == 0
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_daemon_gate_drives_the_heartbeat(server, tmp_path):
    """With the daemon's own rule_loop_healthy: pings stop once no round completed for 2 intervals + slack."""
    (tmp_path / "r.yml").write_text("groups: [{name: g, interval: 10s, rules: [{alert: A, expr: vector(1)}]}]\n")
    (tmp_path / "config.yaml").write_text(
        f"rule_files: [r.yml]\nheartbeat: {{url: 'http://127.0.0.1:{server.port}/ping/{PING_TOKEN}', interval: 5s}}\n")
    clock = FakeClock(T0)
    daemon = Daemon(str(tmp_path / "config.yaml"), clock=clock)
    daemon._loaded = await asyncio.to_thread(load_config, str(tmp_path / "config.yaml"))  # noqa: SLF001 - gate reads config
    hb = Heartbeat(lambda: daemon._loaded.config.heartbeat, daemon.rule_loop_healthy, clock=clock)  # noqa: SLF001
    task = asyncio.create_task(hb.run())
    try:
        await until(lambda: len(server.pings) == 1, "the first ping")
        for i in range(4):            # rounds keep completing
            await settle()            # the loop is asleep on the clock again
            clock.advance(5)
            daemon._last_round_mono = clock.monotonic()  # noqa: SLF001 - what _on_alerts records each round
            await until(lambda: len(server.pings) == i + 2, f"ping {i + 2} while rounds complete")
        for _ in range(int((2 * 10 + LOOP_STALL_SLACK) / 5) + 3):   # rounds stop
            clock.advance(5)
            await settle()
        stalled_at = len(server.pings)
        assert hb.skipped >= 1 and stalled_at <= 5 + int((2 * 10 + LOOP_STALL_SLACK) / 5) + 1
        for _ in range(3):
            clock.advance(5)
            await settle()
        assert len(server.pings) == stalled_at       # nothing more while stalled
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_failed_pings_are_counted_and_logged_without_the_token(server, caplog):
    server.status = 500
    clock = FakeClock(T0)
    cfg = HeartbeatConfig.model_validate({"url": f"http://127.0.0.1:{server.port}/ping/{PING_TOKEN}", "interval": "1m"})
    hb = Heartbeat(lambda: cfg, lambda: True, clock=clock)
    with caplog.at_level(logging.WARNING, logger="watchdog.notify"):
        task = asyncio.create_task(hb.run())
        try:
            await until(lambda: hb.pings_failed == 1, "a failed ping")
            await settle()
            clock.advance(60)
            await until(lambda: hb.pings_failed == 2, "the loop goes on after a failure")
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
    text = caplog.text
    assert "heartbeat ping to http://127.0.0.1" in text and "HTTP 500" in text and PING_TOKEN not in text


async def test_url_file_and_no_url(server, tmp_path):
    clock = FakeClock(T0)
    (tmp_path / "url").write_text(f"http://127.0.0.1:{server.port}/ping/{PING_TOKEN}\n")
    cfg = HeartbeatConfig.model_validate({"url_file": str(tmp_path / "url"), "interval": "10s", "method": "HEAD"})
    hb = Heartbeat(lambda: cfg, lambda: True, clock=clock)
    task = asyncio.create_task(hb.run())
    try:
        await until(lambda: server.pings == [("HEAD", f"/ping/{PING_TOKEN}")], "a HEAD ping from url_file")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    only_alert = HeartbeatConfig.model_validate({"watchdog_alert": True})
    idle = Heartbeat(lambda: only_alert, lambda: True, clock=clock)
    task = asyncio.create_task(idle.run())
    await settle()
    clock.advance(60)
    await settle()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert len(server.pings) == 1 and idle.pings_ok == 0


async def test_watchdog_alert_reaches_a_receiver(server, tmp_path):
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    try:
        clock = FakeClock(T0)
        alerting = AlertingConfig.model_validate({
            "route": {"receiver": "deadman", "group_wait": "0s", "group_interval": "1m", "repeat_interval": "5m"},
            "receivers": [{"name": "deadman", "webhook_configs": [{"url": f"http://127.0.0.1:{server.port}/hook"}]}],
        })
        dispatcher = Dispatcher(alerting, store=store, clock=clock)
        cfg = HeartbeatConfig.model_validate({"watchdog_alert": True})
        hb = Heartbeat(lambda: cfg, lambda: True, clock=clock)
        await dispatcher.on_alerts(hb.with_watchdog_alert([]), clock.now())
        await dispatcher.process_due()
        await until(lambda: len(server.hooks) == 1, "the Watchdog notice")
        await settle()
        body = server.hooks[0]
        assert body["status"] == "firing"
        assert [a["labels"] for a in body["alerts"]] == [{"alertname": "Watchdog", "severity": "none"}]
        # Each round keeps it firing with the same identity: re-sent only after repeat_interval.
        for _ in range(6):
            clock.advance(60)
            await dispatcher.on_alerts(hb.with_watchdog_alert([]), clock.now())
            await dispatcher.process_due()
            await settle()
        await until(lambda: len(server.hooks) == 2, "the repeat after repeat_interval")
        assert server.hooks[1]["status"] == "firing"
        assert server.hooks[1]["alerts"][0]["fingerprint"] == body["alerts"][0]["fingerprint"]
        await dispatcher.close()
    finally:
        await store.close()


def test_watchdog_alert_off_leaves_alerts_alone():
    clock = FakeClock(T0)
    off = Heartbeat(lambda: None, lambda: True, clock=clock)
    assert off.with_watchdog_alert([]) == []
    alert = watchdog_alert(T0, {"cluster": "eu"})
    assert dict(alert.labels) == {"alertname": "Watchdog", "cluster": "eu", "severity": "none"}


@pytest.mark.parametrize("data, message", [
    ({}, "set url (or url_file) to ping, and/or watchdog_alert: true"),
    ({"url": "ftp://x/y"}, "must be an absolute http:// or https:// URL"),
    ({"url": "http://x/y", "url_file": __file__}, "at most one of url and url_file"),
    ({"url_file": "/nonexistent/heartbeat-url"}, "cannot read file"),
    ({"url": "http://x/y", "interval": "5s", "timeout": "10s"}, "timeout must not be longer than interval"),
    ({"url": "http://x/y", "method": "PUT"}, "Input should be"),
])
def test_heartbeat_config_errors(data, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(").replace(")", r"\)")):
        HeartbeatConfig.model_validate(data)


def test_breaker_options_reach_the_policy():
    config = Config.model_validate({"delivery": {"oncall": {"breaker": {"failures": 2, "reset_after": "10s"}}}})
    policy = policy_from_options(config.delivery["oncall"])
    assert (policy.breaker_failures, policy.breaker_reset) == (2, 10.0)
    assert policy_from_options(Config.model_validate({"delivery": {"oncall": {}}}).delivery["oncall"]).breaker_failures == 5
