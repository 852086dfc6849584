"""Slack interactivity and PagerDuty v3 webhooks ack a real dispatcher's group through the real API app."""

from __future__ import annotations

import hashlib
import hmac
import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlencode

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.api import build_api
from watchdog.clock import SYSTEM_CLOCK
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.pagerduty_server import webhook_v3

SLACK_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
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


@pytest.fixture
async def setup(tmp_path):
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    am = AlertingConfig.model_validate({"route": {"receiver": "r", "group_by": ["alertname"], "group_wait": "0s"},
                                        "receivers": [{"name": "r", "log_configs": [{}]}]})
    d = Dispatcher(am, store=store, clock=SYSTEM_CLOCK)
    now = time.time()
    await d.on_alerts([Alert(labels=Labels.of(alertname="ApiDown"), annotations={}, state=AlertState.FIRING,
                             active_at=now, fired_at=now)], now)
    ctx = Ctx(clock=SYSTEM_CLOCK, store=store, dispatcher=d)
    server = TestServer(build_api(ctx), host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as session:
        yield ctx, session, d.groups()[0]["id"]
    await server.close()
    await d.close()
    await store.close()


def slack_request(group_id: str, *, secret: str = SLACK_SECRET, ts: float | None = None) -> tuple[bytes, dict[str, str]]:
    payload = {"type": "block_actions", "user": {"id": "U1", "username": "alice"},
               "actions": [{"action_id": "watchdog_ack", "value": group_id}]}
    body = urlencode({"payload": json.dumps(payload)}).encode()
    stamp = str(int(ts if ts is not None else time.time()))
    sig = "v0=" + hmac.new(secret.encode(), b"v0:" + stamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return body, {"X-Slack-Request-Timestamp": stamp, "X-Slack-Signature": sig, "Content-Type": "application/x-www-form-urlencoded"}


async def test_slack_button_acks_the_group(setup):
    ctx, session, gid = setup
    body, headers = slack_request(gid)
    async with session.post("/api/v1/notify/slack/actions", data=body, headers=headers) as resp:
        assert resp.status == 200
        assert (await resp.json())["text"] == "Acknowledged by alice"
    group = ctx.dispatcher.groups()[0]
    assert group["acknowledged"]["by"] == "slack:alice"
    events = [e.data for e in await ctx.store.events(kinds=["notification.acknowledged_remotely"])]
    assert events == [{"source": "slack", "group": gid, "by": "slack:alice", "found": True}]


@pytest.mark.parametrize("bad", ["wrong-secret", "stale"])
async def test_slack_bad_signature_or_stale_timestamp_refused(setup, bad):
    ctx, session, gid = setup
    body, headers = slack_request(gid, secret="nope" if bad == "wrong-secret" else SLACK_SECRET,
                                  ts=time.time() - 3600 if bad == "stale" else None)
    async with session.post("/api/v1/notify/slack/actions", data=body, headers=headers) as resp:
        assert resp.status == 401
        assert SLACK_SECRET not in await resp.text()
    assert ctx.dispatcher.groups()[0]["acknowledged"] is None


async def test_no_secret_configured_refuses(setup, monkeypatch):
    ctx, session, gid = setup
    ctx.slack_signing_secret = None
    monkeypatch.delenv("WATCHDOG_SLACK_SIGNING_SECRET", raising=False)
    monkeypatch.delenv("WATCHDOG_SLACK_SIGNING_SECRET_FILE", raising=False)
    body, headers = slack_request(gid)
    async with session.post("/api/v1/notify/slack/actions", data=body, headers=headers) as resp:
        assert resp.status == 503
    assert ctx.dispatcher.groups()[0]["acknowledged"] is None


async def test_pagerduty_acknowledged_webhook_acks_the_group(setup):
    ctx, session, gid = setup
    body, headers = webhook_v3(PD_SECRET, "incident.acknowledged", gid, agent="Bob")
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["data"] == {"acknowledged": True}
    assert ctx.dispatcher.groups()[0]["acknowledged"]["by"] == "pagerduty:Bob"


async def test_pagerduty_bad_signature_refused_and_other_events_ignored(setup):
    ctx, session, gid = setup
    body, headers = webhook_v3("other-secret", "incident.acknowledged", gid)
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 401
    body, headers = webhook_v3(PD_SECRET, "incident.priority_updated", gid)
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["data"] == {"ignored": "incident.priority_updated"}
    assert ctx.dispatcher.groups()[0]["acknowledged"] is None


async def test_pagerduty_resolved_webhook_also_acks_the_group(setup):
    ctx, session, gid = setup
    body, headers = webhook_v3(PD_SECRET, "incident.resolved", gid, agent="Carol")
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 200 and (await resp.json())["data"] == {"acknowledged": True}
    assert ctx.dispatcher.groups()[0]["acknowledged"]["by"] == "pagerduty:Carol"


async def test_pagerduty_signature_of_a_rotated_secret_among_several_is_accepted(setup):
    ctx, session, gid = setup
    body, headers = webhook_v3(PD_SECRET, "incident.acknowledged", gid)
    headers = {**headers, "X-PagerDuty-Signature": "v1=" + "0" * 64 + "," + headers["X-PagerDuty-Signature"]}
    async with session.post("/api/v1/notify/pagerduty", data=body, headers=headers) as resp:
        assert resp.status == 200
    assert ctx.dispatcher.groups()[0]["acknowledged"] is not None


@pytest.mark.parametrize("skew, accepted", [(-290, True), (-310, False), (310, False)])
async def test_slack_replay_window_is_five_minutes(setup, skew, accepted):
    ctx, session, gid = setup
    body, headers = slack_request(gid, ts=time.time() + skew)
    async with session.post("/api/v1/notify/slack/actions", data=body, headers=headers) as resp:
        assert resp.status == (200 if accepted else 401)
    assert (ctx.dispatcher.groups()[0]["acknowledged"] is not None) == accepted


async def test_slack_tampered_body_refused(setup):
    ctx, session, gid = setup
    body, headers = slack_request(gid)
    async with session.post("/api/v1/notify/slack/actions", data=body.replace(b"alice", b"mallory"), headers=headers) as resp:
        assert resp.status == 401
    assert ctx.dispatcher.groups()[0]["acknowledged"] is None
