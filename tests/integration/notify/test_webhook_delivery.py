"""Webhook delivery against a real aiohttp receiver on loopback, on a FakeClock.

The dispatcher is stepped with process_due(); HTTP is real. Retries, Retry-After,
permanent failures, a receiver that is down and comes back, and a restart that
delivers from the outbox.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field

import pytest
from aiohttp import web

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0
GROUP_KEY = '{}:{alertname="DemoServiceDown"}'


@dataclass
class HookServer:
    """A webhook receiver: answers from `script` (status, headers, body) then 200; records requests."""

    script: list[tuple[int, dict, str]] = field(default_factory=list)
    requests: list[dict] = field(default_factory=list)
    runner: web.AppRunner | None = None
    port: int = 0

    async def handle(self, request: web.Request) -> web.Response:
        body = await request.read()
        self.requests.append({"headers": dict(request.headers), "json": json.loads(body), "path": request.path_qs})
        status, headers, text = self.script.pop(0) if self.script else (200, {}, "ok")
        return web.Response(status=status, headers=headers, text=text)

    async def start(self, port: int = 0) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self.handle)
        self.runner = web.AppRunner(app)
        await self.runner.setup()
        site = web.TCPSite(self.runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]

    async def stop(self) -> None:
        if self.runner is not None:
            await self.runner.cleanup()
            self.runner = None


@pytest.fixture
async def hook():
    server = HookServer()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


def config(url: str, **hook_cfg) -> AlertingConfig:
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "30s",
                  "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [{"name": "oncall", "webhook_configs": [{"url": url, **hook_cfg}]}],
    })


def demo_alert(state=AlertState.FIRING, resolved_at=None) -> Alert:
    return Alert(labels=Labels.of(alertname="DemoServiceDown", target="demo", severity="critical"),
                 annotations={"summary": "demo is down"}, state=state, active_at=T0 - 60, fired_at=T0,
                 resolved_at=resolved_at, generator_url="http://127.0.0.1:9797/graph?x=1")


async def fire(dispatcher: Dispatcher, clock: FakeClock) -> None:
    await dispatcher.on_alerts([demo_alert()], clock.now())
    clock.advance(30)
    await dispatcher.process_due()


async def events(store, kind):
    return [e.data for e in await store.events(kinds=[kind])]


async def test_delivers_alertmanager_v4_json_with_bearer_auth(hook, store):
    clock = FakeClock(T0)
    url = f"http://127.0.0.1:{hook.port}/hook"
    d = Dispatcher(config(url, http_config={"authorization": {"credentials": "s3cret-token"}}),
                   store=store, clock=clock, external_url="http://wd.example:9797")
    await fire(d, clock)
    assert len(hook.requests) == 1
    req = hook.requests[0]
    assert req["headers"]["Authorization"] == "Bearer s3cret-token"
    assert req["headers"]["Content-Type"] == "application/json"
    body = req["json"]
    assert list(body) == ["receiver", "status", "alerts", "groupLabels", "commonLabels", "commonAnnotations",
                          "externalURL", "version", "groupKey", "truncatedAlerts"]
    assert body["version"] == "4" and body["status"] == "firing" and body["groupKey"] == GROUP_KEY
    assert body["alerts"][0]["endsAt"] == "0001-01-01T00:00:00Z"
    assert body["externalURL"] == "http://wd.example:9797"
    assert await store.outbox_all() == []
    sent = await events(store, "notification.sent")
    assert [(s["receiver"], s["group_key"], s["status"], s["attempt"]) for s in sent] == [("oncall", GROUP_KEY, "firing", 1)]
    assert (await store.last_notification(GROUP_KEY, "oncall/webhook/0")).status == "firing"
    # resolve: the resolved notice follows at the next group_interval flush
    await d.on_alerts([demo_alert(AlertState.RESOLVED, resolved_at=clock.now())], clock.now())
    clock.advance(60)
    await d.process_due()
    assert [r["json"]["status"] for r in hook.requests] == ["firing", "resolved"]
    assert hook.requests[1]["json"]["alerts"][0]["endsAt"] != "0001-01-01T00:00:00Z"
    await d.close()


async def test_basic_auth_and_max_alerts(hook, store):
    clock = FakeClock(T0)
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/", max_alerts=1,
                          http_config={"basic_auth": {"username": "u", "password": "p"}}), store=store, clock=clock)
    a2 = Alert(labels=Labels.of(alertname="DemoServiceDown", target="other"), annotations={},
               state=AlertState.FIRING, active_at=T0, fired_at=T0)
    await d.on_alerts([demo_alert(), a2], clock.now())
    clock.advance(30)
    await d.process_due()
    body = hook.requests[0]["json"]
    assert hook.requests[0]["headers"]["Authorization"] == "Basic dTpw"
    assert len(body["alerts"]) == 1 and body["truncatedAlerts"] == 1
    await d.close()


async def test_500_then_200_is_retried(hook, store):
    clock = FakeClock(T0)
    hook.script = [(500, {}, "internal oops")]
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/"), store=store, clock=clock, rng=random.Random(7))
    await fire(d, clock)
    failed = await events(store, "notification.failed")
    assert [(f["attempt"], f["final"]) for f in failed] == [(1, False)]
    assert "answered 500: internal oops" in failed[0]["error"]
    pending = await store.outbox_all()
    assert len(pending) == 1 and pending[0].attempts == 1
    clock.advance(failed[0]["retry_in"])
    await d.process_due()
    assert len(hook.requests) == 2
    assert [s["attempt"] for s in await events(store, "notification.sent")] == [2]
    assert await store.outbox_all() == []
    await d.close()


async def test_429_retry_after_is_honoured(hook, store):
    clock = FakeClock(T0)
    hook.script = [(429, {"Retry-After": "7"}, "slow down")]
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/"), store=store, clock=clock)
    await fire(d, clock)
    assert (await events(store, "notification.failed"))[0]["retry_in"] == 7
    clock.advance(6)
    await d.process_due()
    assert len(hook.requests) == 1
    clock.advance(1)
    await d.process_due()
    assert len(hook.requests) == 2 and len(await events(store, "notification.sent")) == 1
    await d.close()


async def test_400_is_permanent(hook, store):
    clock = FakeClock(T0)
    hook.script = [(400, {}, "bad payload")]
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/"), store=store, clock=clock)
    await fire(d, clock)
    failed = await events(store, "notification.failed")
    assert [(f["attempt"], f["final"], f["status"]) for f in failed] == [(1, True, "firing")]
    assert await store.outbox_all() == []
    clock.advance(50)
    await d.process_due()
    assert len(hook.requests) == 1
    await d.close()


async def test_receiver_down_then_up_delivers_from_outbox_after_restart(hook, store):
    clock = FakeClock(T0)
    port = hook.port
    await hook.stop()
    d = Dispatcher(config(f"http://127.0.0.1:{port}/"), store=store, clock=clock, rng=random.Random(1))
    await fire(d, clock)
    failed = await events(store, "notification.failed")
    assert failed and failed[0]["final"] is False
    assert len(await store.outbox_all()) == 1
    await d.close()                                  # the daemon stops with the notice still queued
    await hook.start(port)
    clock.advance(600)
    d2 = Dispatcher(config(f"http://127.0.0.1:{port}/"), store=store, clock=clock)
    await d2.process_due()                           # a new process delivers what the outbox kept
    assert len(hook.requests) == 1 and hook.requests[0]["json"]["status"] == "firing"
    assert await store.outbox_all() == []
    # and the log now knows it: the restored alert is not sent again
    await d2.on_alerts([demo_alert()], clock.now())
    await d2.process_due()
    clock.advance(120)
    await d2.process_due()
    assert len(hook.requests) == 1
    await d2.close()


async def test_retry_deadline_gives_up_and_records(hook, store):
    clock = FakeClock(T0)
    hook.script = [(503, {}, "")] * 50
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/"), store=store, clock=clock, retry_deadline=120)
    await fire(d, clock)
    for _ in range(40):
        clock.advance(10)
        await d.process_due()
    failed = await events(store, "notification.failed")
    finals = [f for f in failed if f["final"]]
    assert finals and "retry deadline reached" in finals[0]["error"]
    assert finals[0]["attempt"] == next(i for i, f in enumerate(failed, 1) if f["final"])
    assert len(await store.outbox_all()) <= 1        # the next flush may queue the group again
    await d.close()


async def test_secrets_never_in_errors(hook, store):
    clock = FakeClock(T0)
    hook.script = [(500, {}, "")]
    secret_url = f"http://user:pa55word@127.0.0.1:{hook.port}/hook/T0KEN?token=qu3ry"
    d = Dispatcher(config(secret_url), store=store, clock=clock)
    await fire(d, clock)
    # unreachable with the same secrets
    d2 = Dispatcher(config("http://user:pa55word@127.0.0.1:1/hook/T0KEN?token=qu3ry"), store=store, clock=clock)
    await d2.on_alerts([demo_alert()], clock.now())
    await d2.process_due()
    text = json.dumps([e.to_json() for e in await store.events()])
    assert "notification.failed" in text
    for secret in ("pa55word", "T0KEN", "qu3ry", "user:"):
        assert secret not in text
    await d.close()
    await d2.close()


async def test_notify_now_sends_at_once(hook, store):
    clock = FakeClock(T0)
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/"), store=store, clock=clock)
    await fire(d, clock)
    clock.advance(5)
    a = Alert(labels=demo_alert().labels, annotations={"summary": "demo is down", "remediation_output": "restart failed: exit 1"},
              state=AlertState.FIRING, active_at=T0 - 60, fired_at=T0)
    await d.notify_now([a], reason="remediation restart-demo: verification failed")
    await d.process_due()
    assert len(hook.requests) == 2
    assert hook.requests[1]["json"]["alerts"][0]["annotations"]["remediation_output"] == "restart failed: exit 1"
    await d.close()


async def test_queued_firing_notice_dropped_when_resolved_and_send_resolved_off(hook, store):
    clock = FakeClock(T0)
    hook.script = [(503, {"Retry-After": "600"}, "")]
    d = Dispatcher(config(f"http://127.0.0.1:{hook.port}/", send_resolved=False), store=store, clock=clock)
    await fire(d, clock)
    assert len(await store.outbox_all()) == 1                     # waiting 10 minutes to retry
    await d.on_alerts([demo_alert(AlertState.RESOLVED, resolved_at=clock.now())], clock.now())
    clock.advance(60)
    await d.process_due()
    assert await store.outbox_all() == []                         # stale firing news is not delivered
    assert (await store.last_notification(GROUP_KEY, "oncall/webhook/0")).status == "resolved"
    clock.advance(600)
    await d.process_due()
    assert len(hook.requests) == 1
    # it fires again: a new firing notice goes out (the log does not think it was already told)
    refired = Alert(labels=demo_alert().labels, annotations={}, state=AlertState.FIRING,
                    active_at=clock.now(), fired_at=clock.now())
    await d.on_alerts([refired], clock.now())
    clock.advance(30)
    await d.process_due()
    assert len(hook.requests) == 2 and hook.requests[1]["json"]["status"] == "firing"
    await d.close()
