"""Routing, silences, inhibition, time intervals, escalation and acks as timelines on a FakeClock.

Alertmanager acceptance-test style: at t=0 alerts arrive; between t=a and t=b
exactly these notifications are expected. Real SqliteStore, log receivers.
"""

from __future__ import annotations

import dataclasses

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.alerting.silences import SilenceError
from watchdog.config.models import EscalationPolicy
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.fakeclock import FakeClock

T0 = 1_700_000_000.0   # 2023-11-14 22:13:20 UTC, a Tuesday


def config(routes=(), inhibit=(), intervals=(), receivers=("oncall", "db", "pager-1", "pager-2", "lead"), **root):
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "30s", "group_interval": "1m",
                  "repeat_interval": "1h", "routes": list(routes), **root},
        "receivers": [{"name": r, "log_configs": [{}]} for r in receivers],
        "inhibit_rules": list(inhibit),
        "time_intervals": list(intervals),
    })


def firing(t=T0, **labels):
    return Alert(labels=Labels.of(labels), annotations={}, state=AlertState.FIRING, active_at=t, fired_at=t)


@pytest.fixture
async def store(tmp_path):
    s = SqliteStore(str(tmp_path / "wd.db"))
    await s.open()
    yield s
    await s.close()


class Run:
    """Rule rounds every 10 s report `current`; a dropped alert is reported resolved."""

    def __init__(self, d: Dispatcher, clock: FakeClock, store: SqliteStore) -> None:
        self.d, self.clock, self.store = d, clock, store
        self.current: list[Alert] = []
        self._reported: dict[str, Alert] = {}

    async def until(self, t: float) -> None:
        while self.clock.now() < T0 + t:
            self.clock.advance(1)
            now = self.clock.now()
            if int(now - T0) % 10 == 0:
                cur = {a.fingerprint: a for a in self.current}
                for fp, a in list(self._reported.items()):
                    if fp not in cur and a.state is AlertState.FIRING:
                        self._reported[fp] = dataclasses.replace(a, state=AlertState.RESOLVED, resolved_at=now)
                self._reported.update(cur)
                await self.d.on_alerts(list(self._reported.values()), now)
            await self.d.process_due()

    async def sent(self):
        return [(e.time - T0, e.data["receiver"], e.data["status"],
                 sorted(a["labels"].get("i", "") for a in e.data["alerts"]))
                for e in await self.store.events(kinds=["notification.sent"])]


async def test_routes_send_to_matching_receivers_with_their_own_groups(store):
    clock = FakeClock(T0)
    cfg = config(routes=[{"matchers": ['team="db"'], "receiver": "db", "group_wait": "10s"}])
    run = Run(Dispatcher(cfg, store=store, clock=clock), clock, store)
    run.current = [firing(alertname="A", team="db", i="1"), firing(alertname="A", i="2")]
    await run.until(40)
    assert await run.sent() == [(10, "db", "firing", ["1"]), (30, "oncall", "firing", ["2"])]


async def test_silence_holds_notice_and_expiry_lets_it_through_at_next_flush(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(), store=store, clock=clock)
    run = Run(d, clock, store)
    silence = await d.add_silence(['alertname="A"'], T0, T0 + 3600, "me", "maintenance")
    run.current = [firing(alertname="A", i="1")]
    await run.until(200)
    assert await run.sent() == []
    assert d.is_silenced({"alertname": "A"}) and not d.is_silenced({"alertname": "B"})
    assert d.groups()[0]["alerts"][0]["silenced_by"] == [silence["id"]]
    await d.expire_silence(silence["id"])
    await run.until(260)
    assert await run.sent() == [(210, "oncall", "firing", ["1"])]       # the group's next flush after expiry


async def test_silence_added_after_firing_still_lets_resolution_through(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(), store=store, clock=clock)
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(40)
    await d.add_silence(['alertname="A"'], T0 + 40, T0 + 7200, "me", "")
    await run.until(300)
    assert await run.sent() == [(30, "oncall", "firing", ["1"])]        # silenced: no repeat, and no fake resolve
    run.current = []
    await run.until(400)
    assert await run.sent() == [(30, "oncall", "firing", ["1"]), (330, "oncall", "resolved", ["1"])]


async def test_silences_survive_a_restart_and_bad_silences_are_refused(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(), store=store, clock=clock)
    with pytest.raises(SilenceError, match="match every alert"):
        await d.add_silence(['alertname=~".*"'], T0, T0 + 60, "me", "")
    with pytest.raises(SilenceError, match="end after it starts"):
        await d.add_silence(['alertname="A"'], T0 + 60, T0 + 30, "me", "")
    await d.add_silence(['alertname="A"'], T0, T0 + 60, "me", "")
    d2 = Dispatcher(config(), store=store, clock=clock)
    await d2.process_due()
    assert [s["matchers"] for s in d2.silences()] == [['alertname="A"']]
    assert d2.is_silenced({"alertname": "A"})
    clock.advance(61)
    assert not d2.is_silenced({"alertname": "A"})                          # expired on time


async def test_inhibited_alert_is_held_while_its_source_fires(store):
    clock = FakeClock(T0)
    cfg = config(inhibit=[{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["cluster"]}], group_by=["alertname", "severity"])
    d = Dispatcher(cfg, store=store, clock=clock)
    run = Run(d, clock, store)
    run.current = [firing(alertname="Down", severity="critical", cluster="eu", i="src"),
                   firing(alertname="Slow", severity="warning", cluster="eu", i="tgt")]
    await run.until(40)
    assert await run.sent() == [(30, "oncall", "firing", ["src"])]
    assert d.is_inhibited({"alertname": "Slow", "severity": "warning", "cluster": "eu"})
    run.current = [run.current[1]]                                         # the source resolves at t=50
    await run.until(100)
    assert (30 + 60, "oncall", "firing", ["tgt"]) in await run.sent()


async def test_mute_time_interval_holds_and_active_interval_releases(store):
    clock = FakeClock(T0)                                                  # 22:13 UTC
    cfg = config(
        routes=[{"matchers": ['team="db"'], "receiver": "db", "mute_time_intervals": ["nights"]},
                {"matchers": ['team="web"'], "receiver": "oncall", "active_time_intervals": ["nights"]}],
        intervals=[{"name": "nights", "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}]}],
    )
    run = Run(Dispatcher(cfg, store=store, clock=clock), clock, store)
    run.current = [firing(alertname="A", team="db", i="db"), firing(alertname="B", team="web", i="web")]
    await run.until(40)
    assert await run.sent() == [(30, "oncall", "firing", ["web"])]
    clock.set(T0 + 107 * 60)                                               # 00:00 the next day: nights are over
    await run.d.on_alerts(run.current, clock.now())
    await run.until(107 * 60 + 70)
    sent = await run.sent()
    assert [(r, i) for _, r, _, i in sent] == [("oncall", ["web"]), ("db", ["db"])]
    assert sent[-1][0] <= 107 * 60 + 60                                    # at the first flush after the mute ended


def policy(**kw):
    return EscalationPolicy.model_validate({"name": "db-oncall", "levels": [
        {"after": "0m", "receivers": ["pager-1"]}, {"after": "10m", "receivers": ["pager-2"]},
        {"after": "30m", "receivers": ["lead"]}], **kw})


async def test_escalation_levels_and_resolution_to_everyone_notified(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()])
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(40)
    assert await run.sent() == [(30, "pager-1", "firing", ["1"])]
    await run.until(30 + 600 + 1)
    assert (await run.sent())[-1] == (630, "pager-2", "firing", ["1"])   # exactly at `after: 10m`
    run.current = []
    await run.until(30 + 600 + 120)
    resolved = sorted(r for _, r, s, _ in await run.sent() if s == "resolved")
    assert resolved == ["pager-1", "pager-2"]                              # the lead was never paged
    await run.until(3600)
    assert not any(r == "lead" for _, r, _, _ in await run.sent())


async def test_ack_stops_escalation_and_pauses_until_unack(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()])
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(40)
    gid = d.groups()[0]["id"]
    acked = await d.acknowledge(gid[:10], "alice", "looking")
    assert acked["acknowledged"]["by"] == "alice"
    assert d.is_acknowledged({"alertname": "A", "i": "2"})                 # same group: remediation pauses
    assert not d.is_acknowledged({"alertname": "B"})
    await run.until(3 * 3600)
    assert [r for _, r, _, _ in await run.sent()] == ["pager-1"]           # no level 2, no repeat
    assert await d.unacknowledge(gid, "alice") is True
    # Escalation started at t=30 (first notice) and was paused at t=40: 590 s of `after: 10m` remain.
    await run.until(3 * 3600 + 585)
    assert "pager-2" not in [r for _, r, _, _ in await run.sent()]        # the paused time does not count
    await run.until(3 * 3600 + 591)
    assert [r for _, r, _, _ in await run.sent()][-1] == "pager-2"
    kinds = [e.kind for e in await store.events(kinds=["group.acknowledged", "group.unacknowledged"])]
    assert kinds == ["group.acknowledged", "group.unacknowledged"]


async def test_ack_expires_and_survives_restart(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()])
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(40)
    await d.acknowledge(d.groups()[0]["id"], "bob", "", expires_at=T0 + 300)
    d2 = Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()])
    run.d = d2
    await run.until(100)
    assert d2.is_acknowledged({"alertname": "A"})
    await run.until(30 + 600 + 300 + 2)
    assert not d2.is_acknowledged({"alertname": "A"})
    assert "pager-2" in [r for _, r, _, _ in await run.sent()]             # escalation resumed after expiry


async def test_policy_repeat_starts_over(store):
    clock = FakeClock(T0)
    p = EscalationPolicy.model_validate({"name": "db-oncall", "repeat": True, "levels": [
        {"after": "0m", "receivers": ["pager-1"]}, {"after": "10m", "receivers": ["pager-2"]}]})
    d = Dispatcher(config(receiver="db-oncall", repeat_interval="24h"), store=store, clock=clock, escalation_policies=[p])
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(30 + 1200 + 1)                                          # cycle = 10m + 10m
    assert [(t, r) for t, r, _, _ in await run.sent()] == [(30, "pager-1"), (630, "pager-2"), (1230, "pager-1")]


async def test_flapping_group_collapses_into_one_summary_until_stable(store):
    from watchdog.alerting.damping import FlapSettings

    clock = FakeClock(T0)
    d = Dispatcher(config(group_wait="0s", group_interval="10s"), store=store, clock=clock,
                   flapping=FlapSettings(max_flips=3, window=600, quiet=300))
    run = Run(d, clock, store)
    for k in range(6):                                                      # firing 20 s, resolved 20 s, ...
        run.current = [firing(alertname="A", i="1")] if k % 2 == 0 else []
        await run.until(20 * (k + 1))
    sent = await run.sent()
    reasons = [e.data.get("reason", "") for e in await store.events(kinds=["notification.sent"])]
    assert sum(1 for r in reasons if r.startswith("flapping")) == 1
    before = len(sent)
    run.current = [firing(alertname="A", i="1")]
    await run.until(400)
    assert len(await run.sent()) == before                                  # collapsed while not yet stable
    await run.until(20 * 6 + 300 + 30)                                      # stable again: the summary said firing,
    assert len(await run.sent()) == before                                  # and firing it is: nothing to add
    run.current = []
    await run.until(20 * 6 + 300 + 60)
    assert (await run.sent())[-1][2] == "resolved" and len(await run.sent()) == before + 1


async def test_storm_sends_one_summary_per_receiver(store):
    from watchdog.alerting.damping import StormSettings

    clock = FakeClock(T0)
    d = Dispatcher(config(group_by=["alertname", "host"]), store=store, clock=clock,
                   storm=StormSettings(max_new_groups=3, window=60))
    run = Run(d, clock, store)
    run.current = [firing(alertname="Down", host=f"h{n}", i=str(n)) for n in range(10)]
    await run.until(40)
    sent = await run.sent()
    assert len(sent) == 1 and sent[0][1] == "oncall" and sent[0][3] == [str(n) for n in range(10)]
    assert d.storms()[0]["receiver"] == "oncall" and len(d.storms()[0]["groups"]) == 10
    run.current = run.current[1:]                                           # h0 resolves: told per group
    await run.until(120)
    assert (await run.sent())[-1][2:] == ("resolved", ["0"])


async def test_is_muted_hook_for_the_remediator(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(), store=store, clock=clock)
    await d.add_silence(['alertname="A"'], T0, T0 + 60, "me", "")
    assert d.is_muted(firing(alertname="A")) and not d.is_muted(firing(alertname="B"))


async def test_inhibition_started_after_firing_still_lets_resolution_through(store):
    clock = FakeClock(T0)
    cfg = config(inhibit=[{"source_matchers": ['severity="critical"'], "target_matchers": ['severity="warning"'],
                           "equal": ["cluster"]}], group_by=["alertname", "severity"])
    d = Dispatcher(cfg, store=store, clock=clock)
    run = Run(d, clock, store)
    target = firing(alertname="Slow", severity="warning", cluster="eu", i="tgt")
    run.current = [target]
    await run.until(40)
    assert await run.sent() == [(30, "oncall", "firing", ["tgt"])]
    run.current = [target, firing(T0 + 50, alertname="Down", severity="critical", cluster="eu", i="src")]
    await run.until(300)
    assert d.is_inhibited(target.labels)
    assert [s for s in await run.sent() if s[3] == ["tgt"]] == [(30, "oncall", "firing", ["tgt"])]   # held, no fake resolve
    run.current = run.current[1:]                                          # the inhibited target resolves at t=310
    await run.until(400)
    assert (330, "oncall", "resolved", ["tgt"]) in await run.sent()


async def test_resolution_reaches_the_old_receiver_after_a_reload_moved_the_route(store):
    clock = FakeClock(T0)
    before = config(routes=[{"matchers": ['team="db"'], "receiver": "db"}])
    d = Dispatcher(before, store=store, clock=clock)
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", team="db", i="1")]
    await run.until(40)
    assert await run.sent() == [(30, "db", "firing", ["1"])]
    d.update_config(config(routes=[{"matchers": ['team="db"'], "receiver": "pager-1"}]))   # same route, new receiver
    await run.until(100)
    d.update_config(config())                                              # the db route is gone: root (oncall) now
    await run.until(130)
    run.current = []                                                       # resolves at t=130
    await run.until(400)
    sent = await run.sent()
    # The reload re-pointed the group at pager-1 (told at its next flush); then the route went away and the
    # alert joined the root group (oncall). Everyone told of the firing hears the resolution, once, after t=130.
    assert [(r, s) for _, r, s, _ in sent if s == "firing"] == [("db", "firing"), ("pager-1", "firing"), ("oncall", "firing")]
    resolved = sorted((r, i) for t, r, s, i in sent if s == "resolved")
    assert resolved == [("db", ["1"]), ("oncall", ["1"]), ("pager-1", ["1"])]
    assert all(t >= 130 for t, _, s, _ in sent if s == "resolved")        # never a fake resolution before the real one


async def test_resolution_reaches_every_receiver_after_a_restart(store):
    clock = FakeClock(T0)
    run = Run(Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()]), clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(11 * 60)
    assert [(r, s) for _, r, s, _ in await run.sent()] == [("pager-1", "firing"), ("pager-2", "firing")]
    await run.d.close()
    restarted = Run(Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()]),
                    clock, store)
    restarted.current = []
    restarted._reported = {a.fingerprint: a for a in run.current}
    await restarted.until(13 * 60)
    resolved = sorted(r for _, r, s, _ in await restarted.sent() if s == "resolved")
    assert resolved == ["pager-1", "pager-2"]


async def test_resolution_ends_the_ack_and_a_new_firing_escalates_afresh(store):
    clock = FakeClock(T0)
    d = Dispatcher(config(receiver="db-oncall"), store=store, clock=clock, escalation_policies=[policy()])
    run = Run(d, clock, store)
    run.current = [firing(alertname="A", i="1")]
    await run.until(40)
    await d.acknowledge(d.groups()[0]["id"], "alice", "rebooting")
    run.current = []
    await run.until(200)
    assert [(r, s) for _, r, s, _ in await run.sent()] == [("pager-1", "firing"), ("pager-1", "resolved")]
    unacks = await store.events(kinds=["group.unacknowledged"])
    assert [e.data["reason"] for e in unacks] == ["resolved"]
    assert not d.is_acknowledged({"alertname": "A"})
    run.current = [firing(T0 + 300, alertname="A", i="2")]                 # fires again: a new incident
    await run.until(300 + 30 + 600 + 10)
    assert [(r, s) for _, r, s, _ in await run.sent()][2:] == [("pager-1", "firing"), ("pager-2", "firing")]


async def test_group_by_all_labels_and_time_intervals_are_not_inherited(store):
    clock = FakeClock(T0)                                                  # 22:13 UTC
    cfg = config(
        group_by=["..."],
        routes=[{"matchers": ['team="db"'], "receiver": "db", "mute_time_intervals": ["nights"],
                 "routes": [{"matchers": ['severity="page"'], "receiver": "pager-1"}]}],
        intervals=[{"name": "nights", "time_intervals": [{"times": [{"start_time": "22:00", "end_time": "24:00"}]}]}],
    )
    run = Run(Dispatcher(cfg, store=store, clock=clock), clock, store)
    run.current = [firing(alertname="A", team="db", i="muted"), firing(alertname="A", team="db", severity="page", i="child"),
                   firing(alertname="A", i="x"), firing(alertname="A", i="y")]
    await run.until(40)
    # The child route does not inherit its parent's mute_time_intervals (Alertmanager's rule); `...` makes one group
    # per label set, so x and y are told apart.
    assert sorted((r, i) for _, r, _, i in await run.sent()) == [("oncall", ["x"]), ("oncall", ["y"]), ("pager-1", ["child"])]
    assert sorted(tuple(sorted(g["labels"])) for g in run.d.groups() if g["receiver"] == "oncall") == [("alertname", "i")] * 2
