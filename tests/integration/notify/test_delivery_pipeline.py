"""The delivery stages through the real Dispatcher on a FakeClock with real channel servers:
per-receiver retry deadline, fallback receivers, WatchdogNotificationsFailing, rate limits,
fired-and-resolved collapse, and crash-safe outbox reconciliation."""

from __future__ import annotations

import random

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.config.models import DeliveryOptions
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.delivery import attach_delivery_options
from watchdog.notify.outbox import record_to_dict
from watchdog.state.base import NotificationRecord, OutboxItem
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.pagerduty_server import PagerdutyServer
from watchdog.testing.slack_server import SlackServer

T0 = 1_700_000_000.0
PD_KEY = "R0UTINGKEY0123456789abcdef012345"


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


@pytest.fixture
async def slack():
    async with SlackServer() as server:
        yield server


@pytest.fixture
async def pd():
    async with PagerdutyServer() as server:
        yield server


def alerting(slack: SlackServer, pd: PagerdutyServer, delivery: dict | None = None, group_by=("alertname",)) -> AlertingConfig:
    am = AlertingConfig.model_validate({
        "route": {"receiver": "chat", "group_by": list(group_by), "group_wait": "30s", "group_interval": "1m", "repeat_interval": "4h"},
        "receivers": [
            {"name": "chat", "slack_configs": [{"api_url": slack.webhook_url(), "send_resolved": True}]},
            {"name": "pager", "pagerduty_configs": [{"routing_key": PD_KEY, "url": pd.url}]},
        ],
    })
    attach_delivery_options(am, {k: DeliveryOptions.model_validate(v) for k, v in (delivery or {}).items()})
    return am


def alert(name="ApiDown", state=AlertState.FIRING, resolved_at=None, **labels) -> Alert:
    return Alert(labels=Labels.of(alertname=name, severity="critical", **labels), annotations={"summary": f"{name} is down"},
                 state=state, active_at=T0 - 60, fired_at=T0, resolved_at=resolved_at)


async def run(clock: FakeClock, d: Dispatcher, seconds: float, step: float = 1.0) -> None:
    for _ in range(int(seconds / step)):
        clock.advance(step)
        await d.process_due()


async def kinds(store, kind):
    return [e.data for e in await store.events(kinds=[kind])]


async def test_deadline_then_fallback_and_failing_alert(store, slack, pd):
    clock = FakeClock(T0)
    am = alerting(slack, pd, {"chat": {"fallback": ["pager"], "retry_deadline": "2m"}})
    d = Dispatcher(am, store=store, clock=clock, rng=random.Random(1))
    slack.fail_next(1000, "server_error")
    await d.on_alerts([alert()], clock.now())
    await run(clock, d, 200)
    assert slack.received == []
    actions = [(e["event_action"], e.get("payload", {}).get("summary", "")) for e in pd.events]
    # the breaker opened after 5 failures: the fallback heard WatchdogNotificationsFailing ...
    assert any(a == "trigger" and "WatchdogNotificationsFailing" in s for a, s in actions)
    # ... and at the 2m deadline the notice itself went to the fallback receiver
    rerouted = [e for e in pd.events if "ApiDown" in e.get("payload", {}).get("summary", "")]
    assert len(rerouted) == 1 and "delivery to receiver chat (slack) failed" in rerouted[0]["payload"]["custom_details"]["note"]
    final = [f for f in await kinds(store, "notification.failed") if f["final"]]
    assert len(final) == 1 and final[0]["receiver"] == "chat"
    assert await kinds(store, "notification.receiver_failing")
    # Slack comes back: the failing alert resolves through the fallback
    slack.faults.clear()
    await d.on_alerts([alert(name="Other")], clock.now())
    await run(clock, d, 150)
    # (ApiDown itself is retried at its next flush, as Alertmanager does; here it already resolved by resolve_timeout)
    assert "[FIRING:1] Other (critical)" in [r.body["text"] for r in slack.received]
    failing_key = next(e["dedup_key"] for e in pd.events if "WatchdogNotificationsFailing" in e.get("payload", {}).get("summary", ""))
    assert pd.incidents[failing_key].status == "resolved"
    await d.close()


async def test_permanent_error_goes_to_fallback_at_once(store, slack, pd):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(slack, pd, {"chat": {"fallback": ["pager"]}}), store=store, clock=clock)
    slack.fail_next(1, "invalid")
    await d.on_alerts([alert()], clock.now())
    await run(clock, d, 31)
    assert [e["event_action"] for e in pd.events] == ["trigger"]
    assert pd.events[0]["dedup_key"]  # the original group's key rides along
    await d.close()


async def test_slack_rate_limit_spaces_messages_one_per_second(store, slack, pd):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(slack, pd, group_by=("alertname", "instance")), store=store, clock=clock)
    await d.on_alerts([alert(instance=f"i{i}") for i in range(5)], clock.now())
    clock.advance(30)
    await d.process_due()
    assert len(slack.received) == 1      # the channel's bucket holds one message per second
    await run(clock, d, 4, step=1.0)
    assert len(slack.received) == 5
    deferred = await store.outbox_all()
    assert deferred == []
    await d.close()


async def test_configured_rate_limit_overrides_default(store, slack, pd):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(slack, pd, {"chat": {"rate_limit": {"count": 5, "per": "1s"}}}, group_by=("alertname", "instance")),
                   store=store, clock=clock)
    await d.on_alerts([alert(instance=f"i{i}") for i in range(5)], clock.now())
    clock.advance(30)
    await d.process_due()
    assert len(slack.received) == 5
    await d.close()


async def test_firing_still_queued_when_resolved_becomes_one_fired_and_resolved_notice(store, slack, pd):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(slack, pd), store=store, clock=clock, rng=random.Random(3))
    slack.fail_next(1000, "server_error")
    await d.on_alerts([alert()], clock.now())
    clock.advance(30)
    await d.process_due()                        # firing attempt fails, stays queued
    await d.on_alerts([alert(state=AlertState.RESOLVED, resolved_at=clock.now())], clock.now())
    await run(clock, d, 60, step=5.0)            # the resolved flush replaces the queued firing notice
    slack.faults.clear()
    await run(clock, d, 600, step=5.0)
    texts = [r.body["text"] for r in slack.received]
    assert len(texts) == 1 and texts[0].startswith("[RESOLVED] ApiDown")
    blocks = str(slack.received[0].body["attachments"])
    assert "fired and resolved before the firing notice could be delivered" in blocks
    assert "fired 2023-11-14 22:13:20 UTC, resolved" in blocks
    await d.close()


async def test_outbox_row_already_in_the_log_is_not_resent_after_a_crash(store, slack, pd):
    """The crash window between the log write and the row delete: the row is recognised and dropped."""
    clock = FakeClock(T0)
    gkey = '{}:{alertname="ApiDown"}'
    record = NotificationRecord(group_key=gkey, receiver="chat/slack/0", status="firing", sent_at=T0, dedup_key="k",
                                firing_fingerprints=("fp",))
    await store.log_notification(record)
    await store.outbox_put(OutboxItem(receiver="chat", group_key=gkey, created_at=T0, next_attempt_at=T0, payload={
        "integration_key": "chat/slack/0", "integration": "slack", "record": record_to_dict(record),
        "notice": {"receiver": "chat", "group_key": gkey, "group_labels": {}, "status": "firing", "alerts": []}}))
    d = Dispatcher(alerting(slack, pd), store=store, clock=clock)
    await d.process_due()
    assert slack.received == [] and await store.outbox_all() == []
    await d.close()


async def test_failing_receiver_shows_in_the_api_and_metrics(store, slack, pd):
    from dataclasses import dataclass
    from typing import Any

    import aiohttp
    from aiohttp.test_utils import TestServer
    from prometheus_client import REGISTRY, generate_latest

    from watchdog.api import build_api

    @dataclass
    class Ctx:
        clock: Any
        store: Any
        dispatcher: Any
        ready: bool = True
        token: Any = None
        read_token: Any = None
        engine: Any = None

    clock = FakeClock(T0)
    d = Dispatcher(alerting(slack, pd, {"chat": {"fallback": ["pager"]}}), store=store, clock=clock, rng=random.Random(3))
    slack.fail_next(1000, "server_error")
    await d.on_alerts([alert()], clock.now())
    await run(clock, d, 120)
    server = TestServer(build_api(Ctx(clock=clock, store=store, dispatcher=d)), host="127.0.0.1", port=0)
    await server.start_server()
    try:
        async with aiohttp.ClientSession() as session:
            async with session.get(server.make_url("/api/v1/notify/receivers")) as resp:
                assert resp.status == 200
                data = (await resp.json())["data"]
    finally:
        await server.close()
    states = {s["key"]: s for s in data["receivers"]}
    assert data["failing"] == ["chat"]
    chat = next(s for s in states.values() if s["receiver"] == "chat")
    assert chat["failing"] and chat["consecutive_failures"] >= 5 and chat["queued"] == 1
    assert "slack" in chat["last_error"] and "T000" not in chat["last_error"]   # the webhook path is a secret
    assert not next(s for s in states.values() if s["receiver"] == "pager")["failing"]
    assert 'watchdog_notify_receiver_failing{integration="slack",receiver="chat"} 1.0' in generate_latest(REGISTRY).decode()
    await d.close()


async def test_rate_limit_is_per_slack_channel_and_per_pagerduty_key_not_per_integration(store, slack, pd):
    """Two integrations posting to the same Slack webhook share its 1/s; two PagerDuty integrations on
    one routing key share its budget; another routing key has its own."""
    clock = FakeClock(T0)
    am = AlertingConfig.model_validate({
        "route": {"receiver": "both", "group_by": ["alertname", "instance"], "group_wait": "30s", "group_interval": "1h"},
        "receivers": [{"name": "both",
                       "slack_configs": [{"api_url": slack.webhook_url()}, {"api_url": slack.webhook_url(), "title": "copy"}],
                       "pagerduty_configs": [{"routing_key": PD_KEY, "url": pd.url}, {"routing_key": PD_KEY, "url": pd.url},
                                             {"routing_key": "OTHER" + PD_KEY[5:], "url": pd.url}]}],
    })
    attach_delivery_options(am, {"both": DeliveryOptions.model_validate({"rate_limit": {"count": 2, "per": "1m"}})})
    d = Dispatcher(am, store=store, clock=clock)
    await d.on_alerts([alert(instance=f"i{i}") for i in range(3)], clock.now())
    clock.advance(30)
    await d.process_due()
    assert len(slack.received) == 2                                   # 2 per minute for the one webhook, not 2 each
    keys = [e["routing_key"] for e in pd.events]
    assert keys.count(PD_KEY) == 2 and keys.count("OTHER" + PD_KEY[5:]) == 2
    await run(clock, d, 120, step=5.0)
    assert len(slack.received) == 6 and len(pd.events) == 9           # all delivered in the end
    await d.close()
