"""RuleManager with the real SeriesStore and Engine, on a FakeClock.

Alert state persistence across a restart uses the real SqliteStore; the
in-memory store is only used to inject write failures.
"""

from __future__ import annotations

import asyncio
import math

import pytest
from prometheus_client import REGISTRY

from watchdog.model import AlertState, Labels
from watchdog.promql import Engine
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule, RecordingRule, RuleGroup
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

from rules_memstore import MemoryStore

T0 = 1_700_000_000.0
UP = Labels.of(__name__="probe_success", target="demo", job="demo")


def demo_group(for_: float = 20.0, **kw) -> RuleGroup:
    down = AlertingRule(
        name="DemoServiceDown",
        expr='probe_success{target="demo"} == 0',
        for_=for_,
        labels={"severity": "critical"},
        annotations={"summary": "{{ $labels.target }} is down", "value": "{{ $value }}"},
        file="rules/demo.rules.yml",
        group="demo",
        index=0,
    )
    return RuleGroup(name="demo", file="rules/demo.rules.yml", interval=10.0, rules=(down,), **kw)


class Harness:
    def __init__(self, groups, store, clock, **kw):
        self.series = SeriesStore()
        self.engine = Engine(self.series)
        self.rounds: list[tuple[float, list]] = []
        self.clock = clock

        async def on_alerts(alerts, t):
            self.rounds.append((t, alerts))

        self.manager = RuleManager(
            groups, engine=self.engine, series=self.series, store=store, clock=clock, on_alerts=on_alerts, **kw
        )

    async def tick(self, value: float | None, t: float) -> None:
        if value is not None:
            self.series.append(UP, value, t)
        await self.manager.evaluate_all(t)

    def states(self) -> list[str]:
        return sorted(a.state.value for a in self.manager.alerts())


async def test_demo_timeline_fires_at_for_and_resolves(fake_clock):
    store = MemoryStore()
    h = Harness([demo_group()], store, fake_clock)
    await h.tick(1, T0)
    assert h.states() == []
    for i, expect in [(1, "pending"), (2, "pending"), (3, "firing"), (4, "firing")]:
        await h.tick(0, T0 + 10 * i)
        assert h.states() == [expect], i
    await h.tick(1, T0 + 50)
    assert h.states() == ["resolved"]
    (alert,) = h.manager.alerts()
    assert alert.labels.to_dict() == {"alertname": "DemoServiceDown", "target": "demo", "job": "demo", "severity": "critical"}
    assert (alert.active_at, alert.fired_at, alert.resolved_at) == (T0 + 10, T0 + 30, T0 + 50)
    assert alert.annotations == {"summary": "demo is down", "value": "0"}
    assert alert.generator == "rules/demo.rules.yml:demo:DemoServiceDown:0"
    # events only on transitions
    assert [(e.time - T0, e.kind) for e in store.timeline] == [(10, "alert.pending"), (30, "alert.firing"), (50, "alert.resolved")]
    firing = store.timeline[1].data
    assert firing["labels"]["alertname"] == "DemoServiceDown" and firing["annotations"]["summary"] == "demo is down"
    assert firing["value"] == 0.0
    # on_alerts after every round, with the round's time
    assert [t - T0 for t, _ in h.rounds] == [0, 10, 20, 30, 40, 50]
    assert [a.state for a in h.rounds[3][1]] == [AlertState.FIRING]
    assert h.manager.rounds == 6 and h.manager.evaluated.is_set()
    # state persisted: resolved row kept for the API/notifications until retention ends
    (row,) = store.alert_rows.values()
    assert row.state == "resolved" and row.active_at == T0 + 10
    await h.tick(1, T0 + 50 + 15 * 60 + 10)
    assert h.manager.alerts() == [] and store.alert_rows == {}


async def test_alerts_series_written_and_queryable(fake_clock):
    h = Harness([demo_group()], MemoryStore(), fake_clock)
    await h.tick(0, T0)
    (s,) = h.engine.vector('ALERTS{alertname="DemoServiceDown"}', T0)
    assert s.labels.get("alertstate") == "pending" and s.value == 1.0
    (s,) = h.engine.vector("ALERTS_FOR_STATE", T0)
    assert s.value == T0
    await h.tick(1, T0 + 10)
    assert h.engine.vector("ALERTS", T0 + 10) == []   # stale-marked when the alert went away


async def test_recording_rule_output_visible_to_later_rules_in_group(fake_clock):
    record = RecordingRule(record="demo:up:min", expr="min by (target) (probe_success)", labels={"via": "rule"}, file="f", group="g", index=0)
    alert = AlertingRule(name="Low", expr='demo:up:min{via="rule"} < 1', for_=0.0, file="f", group="g", index=1)
    h = Harness([RuleGroup("g", "f", None, rules=(record, alert))], MemoryStore(), fake_clock)
    await h.tick(0, T0)
    (rec,) = h.engine.vector("demo:up:min", T0)
    assert rec.labels.to_dict() == {"__name__": "demo:up:min", "target": "demo", "via": "rule"}
    assert [a.state for a in h.manager.alerts()] == [AlertState.FIRING]
    health = h.manager.health()[0]
    assert health["health"] == "ok" and health["interval"] == 10.0   # default_interval
    assert [r["health"] for r in health["rules"]] == ["ok", "ok"]


async def test_failing_rule_is_recorded_and_others_still_run(fake_clock):
    before = REGISTRY.get_sample_value("watchdog_rule_evaluation_failures_total") or 0.0
    # the same labelset twice once __name__ is dropped: an evaluation error at run time
    bad = AlertingRule(name="Dup", expr='{__name__=~"probe_success|other"}', file="f", group="g", index=0)
    good = AlertingRule(name="Good", expr="probe_success == 0", file="f", group="g", index=1)
    h = Harness([RuleGroup("g", "f", 10.0, rules=(bad, good))], MemoryStore(), fake_clock)
    h.series.append(Labels.of(__name__="other", target="demo", job="demo"), 0, T0)
    await h.tick(0, T0)
    group = h.manager.health()[0]
    assert group["health"] == "err" and "same labelset" in group["last_error"]
    assert [r["health"] for r in group["rules"]] == ["err", "ok"]
    assert group["rules"][1]["state"] == "firing"
    assert group["rules"][0]["lastError"] == group["last_error"]
    (alert,) = group["rules"][1]["alerts"]
    assert alert["state"] == "firing" and alert["labels"]["alertname"] == "Good" and alert["value"] == "0e+00"
    assert group["rules"][1]["lastEvaluation"] == "2023-11-14T22:13:20Z"
    assert (REGISTRY.get_sample_value("watchdog_rule_evaluation_failures_total") or 0.0) == before + 1
    assert REGISTRY.get_sample_value("watchdog_alerts", {"state": "firing"}) == 1.0


async def test_template_error_lands_in_annotation_and_health(fake_clock):
    rule = AlertingRule(name="T", expr="probe_success == 0", annotations={"summary": "{{ humanize $labels.target }}"}, file="f", group="g", index=0)
    h = Harness([RuleGroup("g", "f", 10.0, rules=(rule,))], MemoryStore(), fake_clock)
    await h.tick(0, T0)
    (alert,) = h.manager.alerts()
    assert alert.annotations["summary"].startswith("<error expanding template: error executing template __alert_T: template: __alert_T:1:4: executing \"__alert_T\" at <humanize $labels.target>: ")
    assert alert.state is AlertState.FIRING
    rule_health = h.manager.health()[0]["rules"][0]
    assert rule_health["health"] == "err" and rule_health["lastError"].startswith("template: ")


async def test_query_in_annotation_and_external_labels(fake_clock):
    rule = AlertingRule(
        name="Q", expr="probe_success == 0", file="f", group="g", index=0,
        annotations={"summary": '{{ $externalLabels.cluster }}: {{ query "count(probe_success)" | first | value }} probe(s)'},
    )
    h = Harness([RuleGroup("g", "f", 10.0, rules=(rule,))], MemoryStore(), fake_clock, external_labels={"cluster": "eu1"})
    await h.tick(0, T0)
    assert h.manager.alerts()[0].annotations["summary"] == "eu1: 1 probe(s)"


async def test_query_offset_evaluates_in_the_past(fake_clock):
    h = Harness([demo_group(for_=0.0, query_offset=30.0)], MemoryStore(), fake_clock)
    h.series.append(UP, 0, T0)
    await h.tick(1, T0 + 30)        # the query runs at T0 and sees the 0
    assert h.states() == ["firing"]
    (alert,) = h.manager.alerts()
    assert alert.active_at == T0 + 30   # state times are evaluation times
    await h.tick(1, T0 + 60)        # the query runs at T0 + 30 and sees the 1
    assert h.states() == ["resolved"]


async def test_restart_restores_state_and_for_continues(tmp_path, fake_clock):
    db = str(tmp_path / "watchdog.db")
    store = SqliteStore(db, clock=fake_clock)
    await store.open()
    h = Harness([demo_group(for_=60.0)], store, fake_clock)
    await h.tick(0, T0)
    await h.tick(0, T0 + 10)
    assert h.states() == ["pending"]
    await store.close()

    # a new process: new series store (probes keep writing), same database
    store2 = SqliteStore(db, clock=fake_clock)
    await store2.open()
    h2 = Harness([demo_group(for_=60.0)], store2, fake_clock)
    await h2.manager.restore()
    assert [a.active_at for a in h2.manager.alerts()] == [T0]
    for t in (40, 50):
        await h2.tick(0, T0 + t)
        assert h2.states() == ["pending"]
    await h2.tick(0, T0 + 60)
    assert h2.states() == ["firing"]
    events = [(e.time - T0, e.kind) for e in await store2.events()]
    assert events == [(0, "alert.pending"), (60, "alert.firing")]   # no second "pending" after the restart
    await store2.close()


async def test_restart_with_rule_gone_resolves_its_firing_alert(fake_clock):
    store = MemoryStore()
    h = Harness([demo_group(for_=0.0)], store, fake_clock)
    await h.tick(0, T0)
    fake_clock.set(T0 + 100)
    h2 = Harness([], store, fake_clock)
    await h2.manager.restore()
    (alert,) = h2.manager.alerts()
    assert alert.state is AlertState.RESOLVED and alert.resolved_at == T0 + 100
    await h2.manager.evaluate_all(T0 + 110)
    assert store.timeline[-1].kind == "alert.resolved" and store.timeline[-1].data["reason"] == "rule removed"
    assert [a.state for a in h2.rounds[0][1]] == [AlertState.RESOLVED]


async def test_reload_carries_state_by_identity_and_retires_removed_rules(fake_clock):
    store = MemoryStore()
    record = RecordingRule(record="demo:up", expr="probe_success", file="rules/demo.rules.yml", group="demo", index=1)
    group = demo_group(for_=0.0)
    group = RuleGroup(group.name, group.file, group.interval, rules=group.rules + (record,))
    h = Harness([group], store, fake_clock)
    await h.tick(0, T0)
    assert h.states() == ["firing"]
    # same identity, edited annotations: the firing alert carries over without a new transition
    edited = AlertingRule(**{**group.rules[0].__dict__, "annotations": {"summary": "edited"}})
    h.manager.update_groups([RuleGroup(group.name, group.file, group.interval, rules=(edited, record))])
    await h.tick(0, T0 + 10)
    assert h.states() == ["firing"] and h.manager.alerts()[0].annotations == {"summary": "edited"}
    assert [e.kind for e in store.timeline] == ["alert.firing"]
    # the rules are removed: the firing alert resolves, the recorded series goes stale
    fake_clock.set(T0 + 15)
    h.manager.update_groups([])
    assert h.states() == ["resolved"]
    await h.manager.evaluate_all(T0 + 20)
    assert [e.kind for e in store.timeline] == ["alert.firing", "alert.resolved"]
    # written at T0 + 10, within the lookback: only a staleness marker hides it
    assert h.engine.vector("demo:up", T0 + 20) == []


async def test_store_failures_never_raise_and_are_retried(fake_clock):
    store = MemoryStore()
    store.fail_writes = True
    h = Harness([demo_group(for_=0.0)], store, fake_clock)
    await h.tick(0, T0)
    assert h.states() == ["firing"] and store.timeline == [] and store.alert_rows == {}
    store.fail_writes = False
    await h.tick(0, T0 + 10)
    assert [e.kind for e in store.timeline] == ["alert.firing"]
    assert [r.state for r in store.alert_rows.values()] == ["firing"]


async def test_run_evaluates_on_aligned_intervals(fake_clock):
    h = Harness([demo_group(for_=0.0)], MemoryStore(), fake_clock)
    h.series.append(UP, 0, fake_clock.now())
    task = asyncio.create_task(h.manager.run())
    try:
        await fake_clock.run_for(35, step=1.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    times = [t for t, _ in h.rounds]
    assert len(times) in (3, 4)
    assert all(b - a == 10.0 for a, b in zip(times, times[1:]))
    offsets = {round(t % 10.0, 6) for t in times}
    assert len(offsets) == 1                    # a stable phase within the interval
    assert h.manager.health()[0]["last_evaluation"] == times[-1]


async def test_run_wakes_for_new_groups(fake_clock):
    h = Harness([], MemoryStore(), fake_clock, default_interval=10.0)
    task = asyncio.create_task(h.manager.run())
    try:
        await fake_clock.run_for(5, step=1.0)
        h.manager.update_groups([demo_group(for_=0.0)])
        h.series.append(UP, 0, fake_clock.now())
        await fake_clock.run_for(12, step=1.0)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert any(alerts for _, alerts in h.rounds)
    assert not math.isnan(h.manager.health()[0]["last_evaluation"] or math.nan)
