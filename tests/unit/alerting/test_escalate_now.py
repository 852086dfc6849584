"""notify_now(..., escalate=True) jumps a level; flapping is logged and on the timeline. FakeClock, real SqliteStore."""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path

import pytest

from watchdog.alerting import escalation as esc
from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.damping import FlapSettings
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.remediate import scenario
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0
POLICY = esc.Policy("page", (esc.Level(0.0, ("oncall",)), esc.Level(600.0, ("lead",)), esc.Level(900.0, ("manager",))))
SCENARIOS = Path(__file__).resolve().parents[2] / "scenarios"


def alerting(receiver: str = "page") -> AlertingConfig:
    return AlertingConfig.model_validate({
        "route": {"receiver": receiver, "group_by": ["alertname"], "group_wait": "0s", "group_interval": "10s",
                  "repeat_interval": "1h"},
        "receivers": [{"name": n, "log_configs": [{}]} for n in ("oncall", "lead", "manager", "team")],
    })


def firing(**annotations: str) -> Alert:
    return Alert(labels=Labels.of(alertname="Down", target="demo"), annotations=annotations, state=AlertState.FIRING,
                 active_at=T0, fired_at=T0)


@pytest.fixture
async def env(tmp_path):
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    clock = FakeClock(T0)
    yield store, clock
    await store.close()


async def run_for(d: Dispatcher, clock: FakeClock, seconds: int, report: Alert | None = None) -> None:
    """Second by second; `report` is re-sent every 10 s as a rule round would (else resolve_timeout ends it)."""
    for _ in range(seconds):
        clock.advance(1)
        if report is not None and int(clock.now() - T0) % 10 == 0:
            await d.on_alerts([report], clock.now())
        await d.process_due()


async def sent(store) -> list[tuple[float, str, str]]:
    return [(e.time - T0, e.data["receiver"], e.data.get("reason", "")) for e in await store.events(kinds=["notification.sent"])]


async def test_failed_remediation_tells_current_receivers_and_the_next_level_at_once(env):
    store, clock = env
    d = Dispatcher(alerting(), store=store, clock=clock, escalation_policies=[POLICY])
    await d.on_alerts([firing()], T0)
    await d.process_due()
    assert await sent(store) == [(0, "oncall", "")]
    await run_for(d, clock, 60)
    await d.notify_now([firing(remediation_output="exit 1")], "remediation restart failed: exit code 1", escalate=True)
    await d.process_due()
    assert await sent(store) == [(0, "oncall", ""), (60, "oncall", "remediation restart failed: exit code 1"),
                                 (60, "lead", "remediation restart failed: exit code 1")]
    levels = [(e.time - T0, e.data["level"], e.data["receivers"], e.data.get("reason"))
              for e in await store.events(kinds=["escalation.level"])]
    assert levels == [(0, 0, ["oncall"], None), (60, 1, ["lead"], "remediation restart failed: exit code 1")]
    # the jump does not move the policy's clock: the manager still comes 15 minutes after the start
    await run_for(d, clock, 830, report=firing())
    assert [r for _, r, _ in await sent(store)] == ["oncall", "oncall", "lead"]
    await run_for(d, clock, 10, report=firing())
    assert [(t, r) for t, r, _ in await sent(store)][-1] == (900, "manager")
    assert [e.data["level"] for e in await store.events(kinds=["escalation.level"])] == [0, 1, 2]


async def test_without_escalate_only_the_current_receivers_hear(env):
    store, clock = env
    d = Dispatcher(alerting(), store=store, clock=clock, escalation_policies=[POLICY])
    await d.on_alerts([firing()], T0)
    await run_for(d, clock, 5)
    await d.notify_now([firing()], "remediation awaits approval")
    await d.process_due()
    assert [r for _, r, _ in await sent(store)] == ["oncall", "oncall"]
    assert len(await store.events(kinds=["escalation.level"])) == 1


async def test_escalate_on_a_group_not_yet_notified_reaches_the_first_two_levels(env):
    store, clock = env
    d = Dispatcher(alerting(), store=store, clock=clock, escalation_policies=[POLICY])
    await d.notify_now([firing()], "remediation failed", escalate=True)
    await d.process_due()
    assert sorted(r for _, r, _ in await sent(store)) == ["lead", "oncall"]


async def test_acknowledged_group_is_not_escalated(env):
    store, clock = env
    d = Dispatcher(alerting(), store=store, clock=clock, escalation_policies=[POLICY])
    await d.on_alerts([firing()], T0)
    await run_for(d, clock, 5)
    (key,) = d.group_keys_for(firing().labels)
    await d.acknowledge(key, "alice", "on it")
    await d.notify_now([firing()], "remediation failed", escalate=True)
    await d.process_due()
    assert "lead" not in [r for _, r, _ in await sent(store)]
    assert len(await store.events(kinds=["escalation.level"])) == 1


async def test_escalate_without_a_policy_is_a_plain_notice(env):
    store, clock = env
    d = Dispatcher(alerting("team"), store=store, clock=clock)
    await d.notify_now([firing()], "remediation failed", escalate=True)
    await d.process_due()
    assert await sent(store) == [(0, "team", "remediation failed")]


def test_jump_is_pure_and_stops_at_the_last_level():
    state = esc.EscalationState(started_at=T0, level=0, notified=("oncall",))
    state1, newly = esc.jump(POLICY, state)
    assert (state1.level, state1.notified, newly) == (1, ("oncall", "lead"), ("lead",))
    state2, _ = esc.jump(POLICY, state1)
    assert esc.jump(POLICY, state2) == (state2, ())
    # advancing later keeps the level reached (the clock says level 0 at T0 + 1)
    assert esc.advance(POLICY, state1, T0 + 1, acked=False, repeat_interval=3600).state.level == 1


async def test_flapping_start_and_end_are_logged_once_and_on_the_timeline(env, caplog):
    store, clock = env
    flap = FlapSettings(enabled=True, max_flips=2, window=60.0, quiet=30.0)
    d = Dispatcher(alerting("team"), store=store, clock=clock, flapping=flap)
    caplog.set_level(logging.INFO, logger="watchdog.notify")
    alert = firing()
    for i in range(6):   # firing / resolved every 5 s: 5 changes within the window
        t = T0 + 5 * i
        clock.set(t)
        a = alert if i % 2 == 0 else dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=t)
        await d.on_alerts([a], t)
        await d.process_due()
    await run_for(d, clock, 60)   # stable (resolved) for longer than `quiet`
    kinds = [(e.kind, e.time - T0) for e in await store.events(kinds=["alert.flapping", "alert.flapping_ended"])]
    assert [k for k, _ in kinds] == ["alert.flapping", "alert.flapping_ended"]
    assert kinds[0][1] == 15                      # the third change (max_flips=2) starts it
    assert kinds[1][1] >= 25 + 30                 # released once quiet for 30 s after the last change
    (started,) = await store.events(kinds=["alert.flapping"])
    assert started.data["changes"] == 3 and started.data["labels"] == {"alertname": "Down"}
    lines = [r.getMessage() for r in caplog.records if "flapping" in r.getMessage()]
    assert len([m for m in lines if m.startswith("alert.flapping ")]) == 1
    assert len([m for m in lines if m.startswith("alert.flapping_ended")]) == 1


async def test_shipped_scenario_needs_the_jump(monkeypatch):
    path = str(SCENARIOS / "demo-verify-fails-escalates.yml")
    assert await scenario.run_scenario(path) == []
    original = Dispatcher.notify_now

    async def no_jump(self, alerts, reason, *, escalate=False):
        await original(self, alerts, reason)

    monkeypatch.setattr(Dispatcher, "notify_now", no_jump)
    failures = await scenario.run_scenario(path)
    assert any("expected escalation to level 1" in f for f in failures), failures
