"""The dispatcher's own loop (run) and shutdown drain, with a real webhook receiver on loopback."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest
from aiohttp import web

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0


class SlowHook:
    """Answers 200, or holds every request until `release` is set when `hold` is on."""

    def __init__(self, hold: bool = False) -> None:
        self.hold = hold
        self.release = asyncio.Event()
        self.received: list[dict] = []

    async def handle(self, request: web.Request) -> web.Response:
        self.received.append(await request.json())
        if self.hold:
            await self.release.wait()
        return web.Response(text="ok")


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


async def serve(hook: SlowHook):
    app = web.Application()
    app.router.add_post("/", hook.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, site._server.sockets[0].getsockname()[1]


def config(port: int) -> AlertingConfig:
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_wait": "30s", "group_interval": "1m"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": f"http://127.0.0.1:{port}/"}]}],
    })


def alert(**labels: str) -> Alert:
    return Alert(labels=Labels.of(alertname="Down", **labels), annotations={}, state=AlertState.FIRING,
                 active_at=T0, fired_at=T0)


async def until(condition, what: str, timeout: float = 5.0) -> None:
    # Integration test: the HTTP round trip is real, so poll briefly.
    for _ in range(int(timeout / 0.01)):
        if condition():
            return
        await asyncio.sleep(0.01)
    raise AssertionError(f"timed out waiting for {what}")


async def test_run_loop_sends_after_group_wait_and_resolved_after_interval(store):
    hook = SlowHook()
    runner, port = await serve(hook)
    clock = FakeClock(T0)
    d = Dispatcher(config(port), store=store, clock=clock)
    loop = asyncio.create_task(d.run())
    try:
        await d.on_alerts([alert(target="a")], T0)
        await asyncio.sleep(0.05)
        clock.advance(29)
        await asyncio.sleep(0.05)
        assert hook.received == []                     # still inside group_wait
        clock.advance(1)
        await until(lambda: len(hook.received) == 1, "the firing notice")
        assert hook.received[0]["status"] == "firing"
        gone = dataclasses.replace(alert(target="a"), state=AlertState.RESOLVED, resolved_at=clock.now())
        await d.on_alerts([gone], clock.now())
        await asyncio.sleep(0.05)
        clock.advance(60)
        await until(lambda: len(hook.received) == 2, "the resolved notice")
        assert hook.received[1]["status"] == "resolved"
        await until(lambda: d.groups() == [], "the group to be dropped")
    finally:
        loop.cancel()
        await asyncio.gather(loop, return_exceptions=True)
        await d.close()
        await runner.cleanup()


async def test_drain_delivers_due_notices(store):
    hook = SlowHook()
    runner, port = await serve(hook)
    clock = FakeClock(T0)
    d = Dispatcher(config(port), store=store, clock=clock)
    await d.on_alerts([alert(target="a")], T0)
    clock.advance(30)
    left = await d.drain(5.0)
    assert left == 0 and len(hook.received) == 1
    assert await store.outbox_all() == []
    await d.close()
    await runner.cleanup()


async def test_drain_bound_leaves_the_rest_in_the_outbox(store):
    hook = SlowHook(hold=True)
    runner, port = await serve(hook)
    clock = FakeClock(T0)
    d = Dispatcher(config(port), store=store, clock=clock)
    await d.on_alerts([alert(target="a")], T0)
    clock.advance(30)
    draining = asyncio.create_task(d.drain(5.0))
    await until(lambda: len(hook.received) == 1, "the attempt to reach the receiver")
    clock.advance(5)                                   # the drain bound passes while the receiver hangs
    left = await asyncio.wait_for(draining, 5)
    assert left == 1
    kept = await store.outbox_all()
    assert len(kept) == 1 and kept[0].payload["notice"]["status"] == "firing"
    hook.release.set()
    await d.close()
    await runner.cleanup()
