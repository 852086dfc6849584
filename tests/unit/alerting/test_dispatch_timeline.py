"""Dispatcher timelines on a FakeClock, Alertmanager acceptance-test style.

The real SqliteStore (tmp_path) holds the notification log, outbox and timeline;
the log receiver is the channel. Time only moves when the test says so.
"""

from __future__ import annotations

import dataclasses

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0


def alerting(group_by=("alertname",), send_resolved=True, **route):
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_by": list(group_by), "group_wait": "30s",
                  "group_interval": "1m", "repeat_interval": "10m", **route},
        "receivers": [{"name": "oncall", "log_configs": [{"send_resolved": send_resolved}]}],
    })


def firing(fired_at: float = T0, annotations=None, **labels: str) -> Alert:
    return Alert(labels=Labels.of(labels), annotations=annotations or {}, state=AlertState.FIRING,
                 active_at=fired_at, fired_at=fired_at)


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


class Timeline:
    """Drives a dispatcher second by second; rule rounds every 10 s report `current`.

    Like the rule engine, an alert that leaves `current` is reported resolved
    (resolved_at = that round) for the next 15 minutes.
    """

    def __init__(self, dispatcher: Dispatcher, clock: FakeClock, store: SqliteStore) -> None:
        self.d, self.clock, self.store = dispatcher, clock, store
        self.current: list[Alert] = []
        self._reported: dict[str, Alert] = {}

    def round(self, now: float) -> list[Alert]:
        current = {a.fingerprint: a for a in self.current}
        for fp, a in list(self._reported.items()):
            if fp not in current and a.state is AlertState.FIRING:
                self._reported[fp] = dataclasses.replace(a, state=AlertState.RESOLVED, resolved_at=now)
            elif fp not in current and a.resolved_at is not None and now - a.resolved_at > 900:
                del self._reported[fp]
        self._reported.update(current)
        return list(self._reported.values())

    async def run_until(self, t: float) -> None:
        while self.clock.now() < T0 + t:
            self.clock.advance(1)
            if int(self.clock.now() - T0) % 10 == 0:
                await self.d.on_alerts(self.round(self.clock.now()), self.clock.now())
            await self.d.process_due()

    async def sent(self):
        return [(e.time - T0, e.data["status"], sorted(a["labels"].get("i", "") for a in e.data["alerts"]))
                for e in await self.store.events(kinds=["notification.sent"])]


async def test_group_wait_repeat_and_resolve(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(29)
    assert await tl.sent() == []
    await tl.run_until(31)
    assert await tl.sent() == [(30, "firing", ["1"])]           # exactly one, between 30 and 31 s
    await tl.run_until(629)
    assert len(await tl.sent()) == 1                              # nothing new before repeat_interval
    await tl.run_until(631)
    assert (await tl.sent())[-1] == (630, "firing", ["1"])       # repeated at the first flush after 10m
    tl.current = []                                               # resolves in the round at t=640
    await tl.run_until(700)
    assert (await tl.sent())[-1] == (690, "resolved", ["1"])     # at the next group_interval flush
    await tl.run_until(1500)
    assert len(await tl.sent()) == 3
    assert tl.d.groups() == []


async def test_new_alert_joins_at_next_interval(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(40)
    tl.current = [firing(alertname="A", i="1"), firing(T0 + 40, alertname="A", i="2")]
    await tl.run_until(100)
    assert await tl.sent() == [(30, "firing", ["1"]), (90, "firing", ["1", "2"])]
    tl.current = [firing(T0 + 40, alertname="A", i="2")]        # 1 resolves at 100: told at 150
    await tl.run_until(160)
    assert (await tl.sent())[-1] == (150, "firing", ["1", "2"])
    events = await store.events(kinds=["notification.sent"])
    statuses = {a["labels"]["i"]: a["status"] for a in events[-1].data["alerts"]}
    assert statuses == {"1": "resolved", "2": "firing"}


async def test_group_by_splits_groups(store):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(group_by=("...",)), store=store, clock=clock)
    tl = Timeline(d, clock, store)
    tl.current = [firing(alertname="A", i="1"), firing(alertname="A", i="2")]
    await d.on_alerts(tl.current, T0)
    assert sorted(g["key"] for g in d.groups()) == ['{}:{alertname="A", i="1"}', '{}:{alertname="A", i="2"}']
    await tl.run_until(31)
    assert sorted(await tl.sent()) == [(30, "firing", ["1"]), (30, "firing", ["2"])]


async def test_restart_does_not_resend_and_still_resolves(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(100)
    assert await tl.sent() == [(30, "firing", ["1"])]
    # Simulated restart: a new dispatcher on the same store; the restored alert is old,
    # so its group flushes at once, and the notification log says it was already told.
    await tl.d.close()
    tl.d = Dispatcher(alerting(), store=store, clock=clock)
    await tl.run_until(600)
    assert await tl.sent() == [(30, "firing", ["1"])]
    tl.current = []
    await tl.run_until(700)
    assert (await tl.sent())[-1][1] == "resolved"
    assert len(await tl.sent()) == 2


async def test_reload_keeps_groups_and_log(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(31)
    tl.d.update_config(alerting(group_interval="2m"))
    assert len(tl.d.groups()) == 1
    await tl.run_until(400)
    assert await tl.sent() == [(30, "firing", ["1"])]


async def test_send_resolved_false_skips_resolved_notice_but_refire_notifies(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(send_resolved=False), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(31)
    tl.current = []
    await tl.run_until(200)
    assert await tl.sent() == [(30, "firing", ["1"])]
    record = await store.last_notification('{}:{alertname="A"}', "oncall/log/0")
    assert record is not None and record.status == "resolved" and record.firing_fingerprints == ()
    tl.current = [firing(T0 + 200, alertname="A", i="1")]
    await tl.run_until(260)
    assert (await tl.sent())[-1] == (230, "firing", ["1"])  # a new group: group_wait again


async def test_notify_now_bypasses_intervals_without_duplicates(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    tl.current = [firing(alertname="A", i="1")]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(5)
    failed = firing(alertname="A", i="1", annotations={"remediation_output": "exit 1: boom"})
    await tl.d.notify_now([failed], reason="remediation restart-demo failed")
    await tl.d.process_due()
    events = await store.events(kinds=["notification.sent"])
    assert [(e.time - T0, e.data["reason"]) for e in events] == [(5, "remediation restart-demo failed")]
    assert events[0].data["alerts"][0]["labels"]["i"] == "1"
    await tl.run_until(120)                                       # the group_wait flush has nothing new
    assert len(await tl.sent()) == 1


async def test_pending_and_inactive_alerts_are_not_notified(store):
    clock = FakeClock(T0)
    tl = Timeline(Dispatcher(alerting(), store=store, clock=clock), clock, store)
    pending = Alert(labels=Labels.of(alertname="A"), annotations={}, state=AlertState.PENDING, active_at=T0)
    tl.current = [pending]
    await tl.d.on_alerts(tl.current, T0)
    await tl.run_until(100)
    assert await tl.sent() == [] and tl.d.groups() == []


async def test_external_labels_added_when_missing(store):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(group_by=("alertname", "cluster")), store=store, clock=clock,
                   external_labels={"cluster": "eu1", "alertname": "ignored"})
    await d.on_alerts([firing(alertname="A")], T0)
    assert [g["labels"] for g in d.groups()] == [{"alertname": "A", "cluster": "eu1"}]


async def test_alert_nobody_reports_resolves_after_resolve_timeout(store):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(), store=store, clock=clock)          # global.resolve_timeout: 5m
    tl = Timeline(d, clock, store)
    await d.on_alerts([firing(alertname="A", i="1")], T0)         # reported once, then its source goes quiet
    await tl.run_until(329)
    assert await tl.sent() == [(30, "firing", ["1"])]
    await tl.run_until(500)
    assert await tl.sent() == [(30, "firing", ["1"]), (330, "resolved", ["1"])]


async def test_partial_reports_do_not_resolve_other_alerts(store):
    clock = FakeClock(T0)
    d = Dispatcher(alerting(group_by=()), store=store, clock=clock)
    await d.on_alerts([firing(alertname="A")], T0)                # rule group 1
    await d.on_alerts([firing(alertname="B")], T0 + 1)            # rule group 2, a separate call
    clock.set(T0 + 30)
    await d.process_due()
    events = await store.events(kinds=["notification.sent"])
    assert [sorted(a["labels"]["alertname"] for a in e.data["alerts"]) for e in events] == [["A", "B"]]
    assert {a["status"] for a in events[0].data["alerts"]} == {"firing"}
