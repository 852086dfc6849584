"""Slack notifier against the local Slack server: webhook and bot modes, errors, ts persistence."""

from __future__ import annotations

import pytest

from watchdog.notify.base import PermanentError, RetryableError
from watchdog.notify.slack import ACK_ACTION_ID, SlackNotifier
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.slack_server import SlackServer

from notify_channel_helpers import T0, alert, notice, receiver_cfg


@pytest.fixture
async def slack():
    async with SlackServer(token="xoxb-secret-token") as server:
        yield server


def _blocks(body):
    return body["attachments"][0]["blocks"]


async def test_webhook_mode_posts_block_kit_then_resolved(slack):
    cfg = receiver_cfg(slack_configs=[{"api_url": slack.webhook_url(), "send_resolved": True}]).slack_configs[0]
    n = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
    try:
        await n.send(notice())
        await n.send(notice(alert(status="resolved", end=T0 + 120)))
    finally:
        await n.close()
    first, second = slack.received
    assert first.kind == second.kind == "webhook"
    assert first.body["text"].startswith("[FIRING:1] DemoDown")
    blocks = _blocks(first.body)
    assert blocks[0]["type"] == "header"
    text = " ".join(b.get("text", {}).get("text", "") for b in blocks if b["type"] == "section")
    assert "*Severity:* critical" in text and "demo is down" in text
    buttons = next(b for b in blocks if b["type"] == "actions")["elements"]
    ack = next(b for b in buttons if b.get("action_id") == ACK_ACTION_ID)
    assert ack["value"] == notice().dedup_key
    urls = {b["text"]["text"]: b.get("url") for b in buttons}
    assert urls["Runbook"] == "https://runbooks.example/demo"
    assert urls["Status"].startswith("http://watchdog.example:9797/")
    assert first.body["attachments"][0]["color"] == "#d0021b"
    assert second.body["text"].startswith("[RESOLVED] DemoDown")
    assert "resolved 2023-11-14 22:15:20 UTC" in str(_blocks(second.body))
    assert ACK_ACTION_ID not in str(_blocks(second.body))   # nothing left to acknowledge
    assert second.body["attachments"][0]["color"] == "good"


async def test_webhook_errors_are_classified(slack):
    cfg = receiver_cfg(slack_configs=[{"api_url": slack.webhook_url()}]).slack_configs[0]
    n = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
    try:
        slack.fail_next(1, "ratelimited", retry_after=7)
        with pytest.raises(RetryableError) as rate:
            await n.send(notice())
        assert rate.value.retry_after == 7 and rate.value.reason == "rate_limited"
        slack.fail_next(1, "server_error")
        with pytest.raises(RetryableError):
            await n.send(notice())
        slack.fail_next(1, "invalid")
        with pytest.raises(PermanentError) as bad:
            await n.send(notice())
        assert "T000" not in bad.value.message and "XXXX" not in bad.value.message   # the URL path is a secret
    finally:
        await n.close()
    assert slack.received == []


async def test_bot_mode_posts_then_updates_the_same_message_across_restarts(slack, tmp_path):
    store = SqliteStore(str(tmp_path / "s.db"), clock=FakeClock(T0))
    await store.open()
    cfg = receiver_cfg(slack_configs=[{"app_token": "xoxb-secret-token", "app_url": slack.app_url,
                                       "channel": "#ops", "send_resolved": True}]).slack_configs[0]
    try:
        first = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
        first.attach_store(store)
        await first.send(notice())
        await first.close()
        # a new notifier (as after a restart) finds the message through the store
        second = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
        second.attach_store(store)
        await second.send(notice(alert(status="resolved", end=T0 + 60)))
        await second.close()
    finally:
        await store.close()
    post, update = slack.received
    assert post.kind == "post" and update.kind == "update"
    assert post.headers["Authorization"] == "Bearer xoxb-secret-token"
    ((channel, ts), latest), = slack.messages.items()
    assert channel == "#ops" and update.body["ts"] == ts
    assert latest["text"].startswith("[RESOLVED]")


async def test_bot_mode_ok_false_errors(slack):
    cfg = receiver_cfg(slack_configs=[{"app_token": "xoxb-wrong", "app_url": slack.app_url, "channel": "#ops"}]).slack_configs[0]
    n = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
    try:
        with pytest.raises(PermanentError, match="invalid_auth"):
            await n.send(notice())
    finally:
        await n.close()
    slack.token = "xoxb-wrong"
    n = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
    try:
        slack.fail_next(1, "error:channel_not_found")
        with pytest.raises(PermanentError, match="channel_not_found"):
            await n.send(notice())
        slack.fail_next(1, "ratelimited", retry_after=3)
        with pytest.raises(RetryableError) as rate:
            await n.send(notice())
        assert rate.value.retry_after == 3
    finally:
        await n.close()


async def _bot(slack, store, **extra):
    cfg = receiver_cfg(slack_configs=[{"app_token": "xoxb-secret-token", "app_url": slack.app_url,
                                       "channel": "#ops", "send_resolved": True, **extra}]).slack_configs[0]
    n = SlackNotifier(cfg, receiver="oncall", clock=FakeClock(T0))
    n.attach_store(store)
    return n


async def test_bot_mode_update_message_false_replies_in_the_thread(slack, tmp_path):
    store = SqliteStore(str(tmp_path / "s.db"), clock=FakeClock(T0))
    await store.open()
    n = await _bot(slack, store, update_message=False)
    try:
        await n.send(notice())
        await n.send(notice(alert(status="resolved", end=T0 + 60)))
    finally:
        await n.close()
        await store.close()
    post, reply = slack.received
    assert post.kind == reply.kind == "post"
    ((channel, ts), original), = slack.messages.items()   # the reply is not a new top-level message
    assert reply.body["thread_ts"] == ts and reply.body["channel"] == channel
    assert reply.body["text"].startswith("[RESOLVED]") and original["text"].startswith("[FIRING:1]")


async def test_bot_mode_changed_group_updates_and_a_deleted_message_is_posted_anew(slack, tmp_path):
    store = SqliteStore(str(tmp_path / "s.db"), clock=FakeClock(T0))
    await store.open()
    n = await _bot(slack, store)
    try:
        await n.send(notice())
        await n.send(notice(alert(), alert(instance="demo:81")))          # still firing, one more alert
        assert [r.kind for r in slack.received] == ["post", "update"]
        slack.messages.clear()                                           # someone deleted the message
        await n.send(notice(alert(status="resolved", end=T0 + 60)))
    finally:
        await n.close()
        await store.close()
    assert [r.kind for r in slack.received] == ["post", "update", "post"]
    assert slack.received[-1].body["text"].startswith("[RESOLVED]")
