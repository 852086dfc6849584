"""Dispatcher -> PagerDuty: an ack here acknowledges the PagerDuty incident; the firing notice's dedup key is kept."""

from __future__ import annotations

import asyncio
import dataclasses

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.base import dedup_key_for
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock
from watchdog.testing.pagerduty_server import PagerdutyServer

T0 = 1_700_000_000.0
KEY = "R0UTINGKEY0000000000000000000001"


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


def alerting(pd_url: str, *, webhook_too: bool = False, group_by: list[str] | None = None) -> AlertingConfig:
    receiver: dict = {"name": "pager", "pagerduty_configs": [{"routing_key": KEY, "url": pd_url}]}
    if webhook_too:
        receiver["webhook_configs"] = [{"url": "http://127.0.0.1:9/never"}]
    return AlertingConfig.model_validate({
        "route": {"receiver": "pager", "group_by": group_by or ["alertname"], "group_wait": "0s", "group_interval": "1m"},
        "receivers": [receiver],
    })


def firing(**labels: str) -> Alert:
    return Alert(labels=Labels.of(alertname="DiskFull", **labels), annotations={"summary": "disk full"},
                 state=AlertState.FIRING, active_at=T0, fired_at=T0)


async def step(d: Dispatcher, clock: FakeClock, seconds: float = 0.0) -> None:
    clock.advance(seconds)
    await d.process_due()


async def test_ack_here_acknowledges_the_pagerduty_incident(store):
    async with PagerdutyServer() as pd:
        clock = FakeClock(T0)
        d = Dispatcher(alerting(pd.url), store=store, clock=clock)
        alert = firing(host="db1")
        await d.on_alerts([alert], T0)
        await step(d, clock)
        assert [e["event_action"] for e in pd.events] == ["trigger"]
        (group,) = d.groups()
        dedup = pd.events[0]["dedup_key"]
        assert dedup == group["id"]

        await d.acknowledge(group["id"], "alice", "on it")
        await step(d, clock, 1)
        assert [e["event_action"] for e in pd.events] == ["trigger", "acknowledge"]
        assert pd.events[1]["dedup_key"] == dedup
        assert pd.incidents[dedup].status == "acknowledged"
        assert pd.duplicate_triggers == 0

        # Acked: no repeat; the resolve still goes out and closes the incident.
        for _ in range(12):              # the rules keep reporting it for 12 minutes
            clock.advance(60)
            await d.on_alerts([alert], clock.now())
            await step(d, clock)
        assert len(pd.events) == 2
        resolved = dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=clock.now())
        await d.on_alerts([resolved], clock.now())
        await step(d, clock, 60)
        assert [e["event_action"] for e in pd.events] == ["trigger", "acknowledge", "resolve"]
        assert pd.incidents[dedup].status == "resolved"
        await d.close()


async def test_ack_before_the_trigger_was_accepted_sends_no_acknowledge(store):
    async with PagerdutyServer() as pd:
        clock = FakeClock(T0)
        d = Dispatcher(alerting(pd.url), store=store, clock=clock)
        pd.fail_next(1, "server_error")
        await d.on_alerts([firing(host="db1")], T0)
        await step(d, clock)
        assert pd.events == []                         # the 500 was not recorded as an event
        (group,) = d.groups()
        await d.acknowledge(group["id"], "alice")
        for _ in range(5):
            await step(d, clock, 30)
        # The trigger arrives on retry; an acknowledge for an incident PagerDuty did not know yet is not sent.
        assert [e["event_action"] for e in pd.events] == ["trigger"]
        await d.close()


async def test_resolve_after_a_reload_uses_the_firing_notices_dedup_key(store):
    async with PagerdutyServer() as pd:
        clock = FakeClock(T0)
        d = Dispatcher(alerting(pd.url), store=store, clock=clock)
        alert = firing(host="db1")
        await d.on_alerts([alert], T0)
        await step(d, clock)
        trigger_key = pd.events[0]["dedup_key"]
        # A reload regroups (group_by changes): the resolve must still close the incident PagerDuty has.
        d.update_config(alerting(pd.url, group_by=["alertname", "host"]))
        resolved = dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=clock.now() + 10)
        clock.advance(10)
        await d.on_alerts([resolved], clock.now())
        for _ in range(3):
            await step(d, clock, 60)
        resolves = [e for e in pd.events if e["event_action"] == "resolve"]
        assert resolves and {e["dedup_key"] for e in resolves} == {trigger_key}
        assert pd.incidents[trigger_key].status == "resolved"
        assert all(e["dedup_key"] == trigger_key for e in pd.events)   # no new incident for the regrouped alert
        await d.close()


async def test_outbox_pins_the_logged_dedup_key(store):
    """A notice for a group whose firing notice was accepted under another key keeps that key."""
    async with PagerdutyServer() as pd:
        clock = FakeClock(T0)
        d = Dispatcher(alerting(pd.url), store=store, clock=clock)
        await d.on_alerts([firing(host="db1")], T0)
        await step(d, clock)
        (group,) = d.groups()
        assert pd.events[0]["dedup_key"] == dedup_key_for(group["key"])
        # Rewrite the log as if an earlier version had derived another key for this group's incident.
        integ_key = "pager/pagerduty/0"
        last = await store.last_notification(group["key"], integ_key)
        await store.log_notification(dataclasses.replace(last, dedup_key="legacy-key-0001"))
        d2 = Dispatcher(alerting(pd.url), store=store, clock=clock)
        resolved = dataclasses.replace(firing(host="db1"), state=AlertState.RESOLVED, resolved_at=clock.now() + 5)
        clock.advance(5)
        await d2.on_alerts([resolved], clock.now())
        for _ in range(3):
            await step(d2, clock, 60)
        assert [e["dedup_key"] for e in pd.events if e["event_action"] == "resolve"] == ["legacy-key-0001"]
        await d.close()
        await d2.close()
