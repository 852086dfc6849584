"""PagerDuty notifier against the local Events API v2: trigger/ack/resolve, dedup, errors."""

from __future__ import annotations

import pytest

from watchdog.notify.base import PermanentError, RetryableError, dedup_key_for
from watchdog.notify.pagerduty import PagerdutyNotifier, map_severity
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.pagerduty_server import PagerdutyServer

from notify_channel_helpers import T0, alert, notice, receiver_cfg

KEY = "R0UTINGKEY0123456789abcdef012345"


@pytest.fixture
async def pd():
    async with PagerdutyServer() as server:
        yield server


def _notifier(pd, **extra):
    cfg = receiver_cfg(pagerduty_configs=[{"routing_key": KEY, "url": pd.url, **extra}]).pagerduty_configs[0]
    return PagerdutyNotifier(cfg, receiver="oncall", clock=FakeClock(T0))


async def test_trigger_acknowledge_resolve_one_incident(pd):
    n = _notifier(pd)
    try:
        await n.send(notice(alert(severity="warning")))
        await n.send(notice(alert(severity="warning"), acknowledged=True))
        await n.send(notice(alert(status="resolved", end=T0 + 60)))
    finally:
        await n.close()
    trigger, ack, resolve = pd.events
    assert [e["event_action"] for e in pd.events] == ["trigger", "acknowledge", "resolve"]
    key = dedup_key_for('{}:{alertname="DemoDown"}')
    assert {e["dedup_key"] for e in pd.events} == {key}
    assert trigger["routing_key"] == KEY
    payload = trigger["payload"]
    assert payload["severity"] == "warning" and payload["summary"].startswith("[FIRING:1] DemoDown")
    assert payload["custom_details"]["num_firing"] == 1
    assert {link["text"] for link in trigger["links"]} == {"Status", "Runbook"}
    assert pd.incidents[key].status == "resolved" and pd.duplicate_triggers == 0


async def test_retrigger_of_an_open_incident_is_counted_as_duplicate(pd):
    n = _notifier(pd)
    try:
        await n.send(notice())
        await n.send(notice())
    finally:
        await n.close()
    assert pd.duplicate_triggers == 1 and len(pd.incidents) == 1


async def test_summary_cut_to_1024_and_severity_mapping(pd):
    n = _notifier(pd, description="{{ .CommonLabels.alertname }} " + "x" * 2000)
    try:
        await n.send(notice(alert(severity="page")))
    finally:
        await n.close()
    payload = pd.events[0]["payload"]
    assert len(payload["summary"]) == 1024 and payload["summary"].startswith("DemoDown x")
    assert payload["severity"] == "critical"
    assert [map_severity(s) for s in ("high", "minor", "low", "bogus")] == ["error", "warning", "info", "critical"]


async def test_errors(pd):
    n = _notifier(pd)
    try:
        pd.fail_next(1, "ratelimited", retry_after=5)
        with pytest.raises(RetryableError) as rate:
            await n.send(notice())
        assert rate.value.retry_after == 5
        pd.fail_next(1, "server_error")
        with pytest.raises(RetryableError):
            await n.send(notice())
        pd.fail_next(1, "invalid")
        with pytest.raises(PermanentError, match="invalid event"):
            await n.send(notice())
    finally:
        await n.close()
    assert pd.events == []


async def test_pinned_dedup_key_is_used(pd):
    n = _notifier(pd)
    try:
        import dataclasses
        await n.send(dataclasses.replace(notice(alert(status="resolved", end=T0 + 1)), pinned_dedup_key="old-key"))
    finally:
        await n.close()
    assert pd.events[0]["dedup_key"] == "old-key"
