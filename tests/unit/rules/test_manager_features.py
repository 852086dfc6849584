"""Rule manager features: restore with outage tolerance and grace period, health metrics, group intervals, limits."""

from __future__ import annotations

from test_rule_manager import T0, Harness, demo_group

from watchdog.model import AlertState, Labels
from watchdog.rules.manager import restored_active_at

from rules_memstore import MemoryStore

H = 3600.0


def test_restored_active_at_follows_prometheus():
    # (active_at, for, down_at, now) -> new active_at; tolerance 1h, grace 10m
    f = lambda a, hold, down, now: restored_active_at(a, hold, down, now, H, 600.0)  # noqa: E731
    assert f(0, 300, 100, 200) == 0                  # for shorter than the grace period: unchanged
    assert f(0, 1800, 600, 900) == 300               # 20m left > grace: shifted by the 5m downtime
    assert f(0, 1800, 1500, 1600) == 1600 + 600 - 1800   # 5m left < grace: gets the 10m grace
    assert f(0, 1800, 1900, 2000) == 0               # it was due to fire: unchanged
    assert f(0, 1800, 600, 600 + H + 1) is None      # down longer than the outage tolerance: start afresh
    assert f(0, 1800, None, 900) == 0                # nothing known about the downtime


async def test_restart_after_downtime_shifts_pending_alert(fake_clock):
    store = MemoryStore()
    h = Harness([demo_group(for_=1800.0)], store, fake_clock)
    for t in (0, 10, 20):
        fake_clock.set(T0 + t)
        await h.tick(0, T0 + t)
    assert store.kv["rules.last_evaluation"] == repr(T0 + 20)
    fake_clock.set(T0 + 320)   # down for 5 minutes
    h2 = Harness([demo_group(for_=1800.0)], store, fake_clock)
    await h2.manager.restore()
    (alert,) = h2.manager.alerts()
    assert alert.state is AlertState.PENDING and alert.active_at == T0 + 300
    await h2.tick(0, T0 + 330)
    assert store.alert_rows[next(iter(store.alert_rows))].active_at == T0 + 300   # persisted


async def test_restart_after_long_outage_starts_pending_afresh_but_keeps_firing(fake_clock):
    store = MemoryStore()
    pending = demo_group(for_=1800.0)
    h = Harness([pending], store, fake_clock)
    await h.tick(0, T0)
    fake_clock.set(T0 + 2 * H)
    h2 = Harness([pending], store, fake_clock)
    await h2.manager.restore()
    assert h2.manager.alerts() == []
    await h2.tick(0, T0 + 2 * H)
    (alert,) = h2.manager.alerts()
    assert alert.active_at == T0 + 2 * H

    store2 = MemoryStore()
    firing = demo_group(for_=0.0)
    h3 = Harness([firing], store2, fake_clock)
    await h3.tick(0, T0 + 2 * H)
    fake_clock.set(T0 + 5 * H)
    h4 = Harness([firing], store2, fake_clock)
    await h4.manager.restore()
    (alert,) = h4.manager.alerts()
    assert alert.state is AlertState.FIRING and alert.active_at == T0 + 2 * H


async def test_rule_and_group_health_metrics(fake_clock):
    from prometheus_client import REGISTRY

    from watchdog.rules.model import AlertingRule, RuleGroup

    bad = AlertingRule(name="Bad", expr="a + on(x) b", file="m.yml", group="mg", index=0)
    good = AlertingRule(name="Good", expr="vector(1)", file="m.yml", group="mg", index=1)
    h = Harness([RuleGroup("mg", "m.yml", 10.0, rules=(bad, good))], MemoryStore(), fake_clock)
    for labels in ({"x": "1"}, {"x": "1", "y": "2"}):
        h.series.append(Labels.of(__name__="b", **labels), 1, T0)
    h.series.append(Labels.of(__name__="a", x="1"), 1, T0)
    await h.tick(None, T0)
    get = REGISTRY.get_sample_value
    assert get("watchdog_rule_healthy", {"group": "m.yml;mg", "rule": "Bad:0"}) == 0
    assert get("watchdog_rule_healthy", {"group": "m.yml;mg", "rule": "Good:1"}) == 1
    assert get("watchdog_rule_group_rules", {"group": "m.yml;mg"}) == 2
    assert get("watchdog_rule_group_last_evaluation_timestamp_seconds", {"group": "m.yml;mg"}) == T0
    assert get("watchdog_rule_group_evaluation_failures_total", {"group": "m.yml;mg"}) >= 1
    (group,) = h.manager.health()
    assert group["health"] == "err" and "many-to-many" in group["last_error"]
    assert [r["health"] for r in group["rules"]] == ["err", "ok"]
    # the good rule keeps firing although its neighbour fails
    assert [a.labels.get("alertname") for a in h.manager.alerts()] == ["Good"]
    h.manager.update_groups([])
    assert get("watchdog_rule_healthy", {"group": "m.yml;mg", "rule": "Bad:0"}) is None


async def test_groups_run_on_their_own_intervals(fake_clock):
    import asyncio

    import pytest

    from watchdog.rules.model import RecordingRule, RuleGroup

    fast = RuleGroup("fast", "i.yml", 10.0, rules=(RecordingRule(record="a", expr="vector(1)", file="i.yml", group="fast"),))
    slow = RuleGroup("slow", "i.yml", 30.0, rules=(RecordingRule(record="b", expr="vector(1)", file="i.yml", group="slow"),))
    default = RuleGroup("default", "i.yml", None, rules=(RecordingRule(record="c", expr="vector(1)", file="i.yml", group="default"),))
    h = Harness([fast, slow, default], MemoryStore(), fake_clock, default_interval=20.0)
    seen: dict[str, list[float]] = {"fast": [], "slow": [], "default": []}
    original = h.manager._evaluate_group

    async def spy(gs, t):
        seen[gs.group.name].append(t)
        await original(gs, t)

    h.manager._evaluate_group = spy
    task = asyncio.create_task(h.manager.run())
    try:
        await fake_clock.run_for(120, step=1.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    gaps = {name: {round(b - a, 6) for a, b in zip(ts, ts[1:])} for name, ts in seen.items()}
    assert gaps == {"fast": {10.0}, "slow": {30.0}, "default": {20.0}}
    assert all(abs(len(seen[name]) - 120 / interval) <= 1 for name, interval in (("fast", 10), ("slow", 30), ("default", 20)))


async def test_alerting_limit_fails_the_rule_and_resolves_its_alerts(fake_clock):
    from watchdog.model import AlertState
    from watchdog.rules.model import AlertingRule, RuleGroup

    rule = AlertingRule(name="Many", expr="up == 0", file="l.yml", group="g")
    h = Harness([RuleGroup("g", "l.yml", 10.0, limit=2, rules=(rule,))], MemoryStore(), fake_clock)
    h.series.append(Labels.of(__name__="up", instance="a"), 0, T0)
    await h.tick(None, T0)
    assert [a.state for a in h.manager.alerts()] == [AlertState.FIRING]
    for i in "bc":
        h.series.append(Labels.of(__name__="up", instance=i), 0, T0 + 10)
    h.series.append(Labels.of(__name__="up", instance="a"), 0, T0 + 10)
    await h.tick(None, T0 + 10)
    (group,) = h.manager.health()
    assert group["rules"][0]["lastError"] == "exceeded limit of 2 with 3 alerts"
    assert [a.state for a in h.manager.alerts()] == [AlertState.RESOLVED]
