"""Channel acks (PagerDuty v3, Slack button) carry the dedup key of the firing notice; after a reload
changed the group's key they still reach the group that inherited the alerts (through the real API app)."""

from __future__ import annotations

import dataclasses
import json
import time
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from test_ack_endpoints_support import slack_request
from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.alerting.dispatcher_controls import DEDUP_LOG_KV_KEY
from watchdog.api import build_api
from watchdog.clock import SYSTEM_CLOCK
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.base import dedup_key_for
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.pagerduty_server import webhook_v3

SLACK_SECRET = "slack-signing-secret-for-tests"
PD_SECRET = "pd-webhook-secret"


@dataclass
class Ctx:
    clock: Any
    store: Any
    dispatcher: Any
    slack_signing_secret: str | None = SLACK_SECRET
    pagerduty_webhook_secret: str | None = PD_SECRET
    ready: bool = True
    token: Any = None
    read_token: Any = None
    engine: Any = None


def _alerting(group_by: list[str]) -> AlertingConfig:
    return AlertingConfig.model_validate({
        "route": {"receiver": "r", "group_by": group_by, "group_wait": "0s", "group_interval": "1s"},
        "receivers": [{"name": "r", "log_configs": [{}]}]})


def _alert(now: float) -> Alert:
    return Alert(labels=Labels.of(alertname="ApiDown", instance="a"), annotations={}, state=AlertState.FIRING,
                 active_at=now, fired_at=now)


@pytest.fixture
async def reloaded(tmp_path):
    """A group notified under key {}:{alertname="ApiDown"}, then a reload that groups by instance too."""
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    d = Dispatcher(_alerting(["alertname"]), store=store, clock=SYSTEM_CLOCK, external_url="http://wd.example")
    now = time.time()
    await d.on_alerts([_alert(now)], now)
    await d.process_due()
    old_key = '{}:{alertname="ApiDown"}'
    assert (await store.last_notification(old_key, "r/log/0")).dedup_key == dedup_key_for(old_key)
    d.update_config(_alerting(["alertname", "instance"]))
    await d.on_alerts([_alert(now)], time.time())
    new_key = '{}:{alertname="ApiDown", instance="a"}'
    assert {g["key"] for g in d.groups()} == {old_key, new_key}
    ctx = Ctx(clock=SYSTEM_CLOCK, store=store, dispatcher=d)
    server = TestServer(build_api(ctx), host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as session:
        yield ctx, session, old_key, new_key
    await server.close()
    await d.close()
    await store.close()


def _acked(d: Dispatcher) -> dict[str, Any]:
    return {g["key"]: g["acknowledged"] for g in d.groups()}


async def test_pagerduty_ack_with_the_old_dedup_key_acks_the_heir(reloaded):
    ctx, session, old_key, new_key = reloaded
    body, headers = webhook_v3(PD_SECRET, "incident.acknowledged", dedup_key_for(old_key), agent="Bob")
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["data"] == {"acknowledged": True}
    acked = _acked(ctx.dispatcher)
    assert acked[new_key]["by"] == "pagerduty:Bob"     # the group that routes the alert now
    assert acked[old_key] is None                        # the left-behind group only waits for resolution


async def test_slack_button_with_the_old_dedup_key_acks_the_heir(reloaded):
    ctx, session, old_key, new_key = reloaded
    body, headers = slack_request(dedup_key_for(old_key), SLACK_SECRET)
    async with session.post("/api/v1/notify/slack/actions", data=body, headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["text"] == "Acknowledged by alice"
    assert _acked(ctx.dispatcher)[new_key]["by"] == "slack:alice"


async def test_unknown_key_still_finds_nothing(reloaded):
    ctx, session, _, _ = reloaded
    body, headers = webhook_v3(PD_SECRET, "incident.acknowledged", "f" * 64)
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert (await resp.json())["data"] == {"acknowledged": False}
    assert all(a is None for a in _acked(ctx.dispatcher).values())


async def test_left_behind_group_does_not_repeat_the_page(tmp_path, fake_clock):
    """Same route, new group_by: the old group holds the alert (routed elsewhere now) instead of paging again."""
    store = SqliteStore(str(tmp_path / "fc.db"))
    await store.open()
    d = Dispatcher(_alerting(["alertname"]), store=store, clock=fake_clock)
    t0 = fake_clock.now()
    await d.on_alerts([_alert(t0)], t0)
    await d.process_due()
    regrouped = _alerting(["alertname", "instance"])
    regrouped.route.repeat_interval = 5.0
    d.update_config(regrouped)
    for _ in range(3):
        fake_clock.advance(6.0)
        await d.on_alerts([_alert(t0)], fake_clock.now())
        await d.process_due()
    old = await store.last_notification('{}:{alertname="ApiDown"}', "r/log/0")
    new = await store.last_notification('{}:{alertname="ApiDown", instance="a"}', "r/log/0")
    assert old.sent_at == t0                       # no repeat from the left-behind group
    assert new.sent_at == fake_clock.now()         # the heir repeats on its own interval
    await d.close()
    await store.close()


async def test_public_accessors_replace_the_private_reads(reloaded):
    ctx, session, _, _ = reloaded
    d = ctx.dispatcher
    assert d.external_url == "http://wd.example"
    assert [r.name for r in d.alerting.receivers] == ["r"]
    assert d.outbox.integration_states()[0]["receiver"] == "r"
    async with session.get("/api/v1/notify/receivers") as resp:
        assert resp.status == 200
        data = (await resp.json())["data"]
    assert [s["receiver"] for s in data["receivers"]] == ["r"] and data["failing"] == []


async def test_ack_by_a_retired_key_after_a_reload_and_a_restart(tmp_path, fake_clock):
    """The dedup-key log lives in the store: a Dispatcher rebuilt on the same store (a restart with
    the changed route tree) still leads the old key's ack to the group that routes the alert now."""
    store = SqliteStore(str(tmp_path / "restart.db"))
    await store.open()
    t0 = fake_clock.now()
    d = Dispatcher(_alerting(["alertname"]), store=store, clock=fake_clock)
    await d.on_alerts([_alert(t0)], t0)
    await d.process_due()
    old_key, new_key = '{}:{alertname="ApiDown"}', '{}:{alertname="ApiDown", instance="a"}'
    d.update_config(_alerting(["alertname", "instance"]))
    fake_clock.advance(1.0)
    await d.on_alerts([_alert(t0)], fake_clock.now())
    await d.process_due()
    await d.close()

    restarted = Dispatcher(_alerting(["alertname", "instance"]), store=store, clock=fake_clock)
    fake_clock.advance(1.0)
    await restarted.process_due()     # a tick before the rules report again must not lose the log
    await restarted.on_alerts([_alert(t0)], fake_clock.now())
    assert {g["key"] for g in restarted.groups()} == {new_key}
    answer = await restarted.acknowledge(dedup_key_for(old_key), by="pagerduty:Bob")
    assert answer is not None and answer["key"] == new_key
    assert _acked(restarted)[new_key]["by"] == "pagerduty:Bob"
    assert await restarted.acknowledge("f" * 64, by="x") is None
    await restarted.close()
    await store.close()


async def test_dedup_log_is_pruned_with_the_notification_log_retention(tmp_path, fake_clock):
    store = SqliteStore(str(tmp_path / "prune.db"))
    await store.open()
    t0 = fake_clock.now()
    d = Dispatcher(_alerting(["alertname"]), store=store, clock=fake_clock, dedup_retention=3600.0)
    await d.on_alerts([_alert(t0)], t0)
    await d.process_due()
    old_key = '{}:{alertname="ApiDown"}'
    stored = json.loads(await store.kv_get(DEDUP_LOG_KV_KEY))["keys"]
    assert stored[dedup_key_for(old_key)]["group_key"] == old_key
    # the alert resolves and its group goes; past the retention the key cannot be acked any more
    resolved = dataclasses.replace(_alert(t0), state=AlertState.RESOLVED, resolved_at=t0 + 1)
    fake_clock.advance(2.0)
    await d.on_alerts([resolved], fake_clock.now())
    await d.process_due()
    fake_clock.advance(60.0)
    await d.process_due()
    assert d.groups() == []
    assert dedup_key_for(old_key) in json.loads(await store.kv_get(DEDUP_LOG_KV_KEY))["keys"]   # within retention
    fake_clock.advance(3600.0)
    await d.process_due()
    assert json.loads(await store.kv_get(DEDUP_LOG_KV_KEY))["keys"] == {}
    await d.close()
    await store.close()
