"""Issue-7 gates with the real Dispatcher: acks and silences, approvals, requires_change, the breaker's
page, and the verified note on the resolved notice. Real subprocesses, SQLite, FakeClock."""

from __future__ import annotations

import asyncio
import dataclasses
import stat
import textwrap
from pathlib import Path

import pytest

from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.model import Alert, AlertState, Labels
from watchdog.promql import Engine
from watchdog.remediate.changes import record_change
from watchdog.remediate.remediator import ApprovalError, Remediator
from watchdog.remediate.spec import load_remediation_files
from watchdog.state.base import FINISHED_RUN_STATUSES, ChangeRecord, RemediationRun
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

ARGS_SCRIPT = 'printf "%s\\n" "$@" > "args-$WATCHDOG_RUN_ID.txt"; echo ran "$@"\n'


GUARDRAILS = "{cooldown: 0s, max_attempts: 10, window: 1h, max_concurrent: 5, breaker: {failures: 2, reset_after: 10m}}"


def make_specs(tmp_path: Path, extra: str = "", script: str = ARGS_SCRIPT, argv: str = '[scripts/fix.sh, "--target={{ $labels.target }}"]',
               guardrails: str = GUARDRAILS):
    sdir = tmp_path / "scripts"
    sdir.mkdir(exist_ok=True)
    fix = sdir / "fix.sh"
    fix.write_text("#!/bin/sh\n" + script)
    fix.chmod(fix.stat().st_mode | stat.S_IXUSR)
    path = tmp_path / "r.yml"
    path.write_text(textwrap.dedent(f"""
        remediations:
          - name: fix
            match: ['alertname="Down"']
            action: {{type: command, argv: {argv}, timeout: 5s}}
            guardrails: {guardrails}
        """).lstrip() + textwrap.indent(textwrap.dedent(extra), "    "))
    specs, errors = load_remediation_files([str(path)])
    assert [str(e) for e in errors] == []
    return specs


def alerting():
    return AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_by": ["alertname"], "group_wait": "0s", "group_interval": "1m", "repeat_interval": "1h"},
        "receivers": [{"name": "oncall", "log_configs": [{}]}],
        "inhibit_rules": [{"source_matchers": ['alertname="Outage"'], "target_matchers": ['alertname="Down"']}],
    })


@pytest.fixture
async def env(tmp_path, fake_clock):
    store = SqliteStore(str(tmp_path / "wd.db"), clock=fake_clock)
    await store.open()
    dispatcher = Dispatcher(alerting(), store=store, clock=fake_clock)
    yield store, dispatcher
    await dispatcher.close()
    await store.close()


def remediator(specs, store, dispatcher, clock, series=None):
    return Remediator(specs, store=store, engine=Engine(series or SeriesStore()), clock=clock, notify_now=dispatcher.notify_now)


def down(clock, target="demo", service="demo", active_at=None, **kw) -> Alert:
    t = clock.now() if active_at is None else active_at
    return Alert(labels=Labels.of(alertname="Down", target=target, service=service), annotations={}, state=AlertState.FIRING,
                 active_at=t, fired_at=t, **kw)


async def settled(store, run_id, *statuses, timeout=10.0):
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while True:
        run = await store.get_run(run_id)
        if run is not None and run.status in statuses:
            return run
        assert loop.time() < deadline, f"run {run_id} is {run.status if run else None}"
        await asyncio.sleep(0.02)


async def events(store, kind):
    return [e.data for e in await store.events(kinds=[kind])]


async def sent(store, d):
    await d.process_due()      # deliver what notify_now queued (the outbox sends in the background)
    return [e.data for e in await store.events(kinds=["notification.sent"])]


async def test_an_acknowledged_group_is_not_remediated(tmp_path, fake_clock, env):
    store, d = env
    r = remediator(make_specs(tmp_path), store, d, fake_clock)
    a = down(fake_clock)
    await d.on_alerts([a], fake_clock.now())
    (key,) = d.group_keys_for(a.labels)
    assert await d.acknowledge(key, "alice", "looking") is not None
    await r.on_alerts([a], fake_clock.now())
    assert await store.runs() == []
    (skipped,) = await events(store, "remediation.skipped")
    assert skipped["code"] == "acknowledged"
    await d.unacknowledge(key, by="alice")
    await r.on_alerts([a], fake_clock.now())
    (run,) = await store.runs()
    await settled(store, run.id, "succeeded")


@pytest.mark.parametrize("when_silenced,expect_run", [("skip", False), ("run", True)])
async def test_silenced_or_inhibited_alerts_follow_when_silenced(tmp_path, fake_clock, env, when_silenced, expect_run):
    store, d = env
    r = remediator(make_specs(tmp_path, f"when_silenced: {when_silenced}\n"), store, d, fake_clock)
    now = fake_clock.now()
    await d.add_silence(['target="demo"'], now, now + 3600, "bob", "maintenance")
    await r.on_alerts([down(fake_clock)], now)
    # inhibition: an Outage alert mutes Down alerts
    outage = Alert(labels=Labels.of(alertname="Outage"), annotations={}, state=AlertState.FIRING, active_at=now, fired_at=now)
    await d.on_alerts([outage], now)
    await r.on_alerts([down(fake_clock, target="other")], now)
    runs = await store.runs()
    assert len(runs) == (2 if expect_run else 0)
    for run in runs:
        await settled(store, run.id, "succeeded")
    if not expect_run:
        assert [e["code"] for e in await events(store, "remediation.skipped")] == ["silenced", "silenced"]


async def test_approval_gate_waits_then_runs_with_who_approved(tmp_path, fake_clock, env):
    store, d = env
    r = remediator(make_specs(tmp_path, "require_approval: true\napproval_timeout: 10m\n"), store, d, fake_clock)
    await r.on_alerts([down(fake_clock)], fake_clock.now())
    (run,) = await store.runs()
    assert run.status == "awaiting_approval" and r.in_flight() == [] and [p.id for p in r.awaiting_approval()] == [run.id]
    assert len(await sent(store, d)) == 1 and (await events(store, "remediation.awaiting_approval"))[0]["run_id"] == run.id
    # more rule rounds do not park a second run
    fake_clock.advance(60)
    await r.on_alerts([down(fake_clock)], fake_clock.now())
    assert len(await store.runs()) == 1
    approved = await r.approve(run.id, "carol")
    assert approved.approved_by == "carol"
    done = await settled(store, run.id, "succeeded")
    assert done.approved_by == "carol" and (tmp_path / f"args-{run.id}.txt").read_text() == "--target=demo\n"
    (ev,) = await events(store, "remediation.approved")
    assert ev["by"] == "carol"
    with pytest.raises(ApprovalError, match="not awaiting approval"):
        await r.approve(run.id, "carol")


async def test_an_unapproved_run_expires_and_a_human_is_told(tmp_path, fake_clock, env):
    store, d = env
    r = remediator(make_specs(tmp_path, "require_approval: true\napproval_timeout: 5m\n"), store, d, fake_clock)
    await r.on_alerts([down(fake_clock)], fake_clock.now())
    (run,) = await store.runs()
    assert len(await sent(store, d)) == 1   # "awaits approval: watchdog approve N"
    fake_clock.advance(301)
    await r.on_alerts([], fake_clock.now())
    expired = await store.get_run(run.id)
    assert expired.status == "expired" and "approval expired" in expired.note
    assert (await events(store, "remediation.approval_expired"))[0]["run_id"] == run.id
    assert len(await sent(store, d)) == 2   # the "awaits approval" notice and the "expired" one, both sent at once
    with pytest.raises(ApprovalError):
        await r.approve(run.id, "late")


async def test_requires_change_runs_the_rollback_with_the_change_or_tells_a_human(tmp_path, fake_clock, env):
    store, d = env
    specs = make_specs(tmp_path, "requires_change: {within: 30m, same: [service]}\n",
                       argv='[scripts/fix.sh, "--to={{ $change.previous_version }}", "--service={{ $labels.service }}"]')
    r = remediator(specs, store, d, fake_clock)
    t0 = fake_clock.now()
    # a change to another service, and one too old, do not count
    await record_change(store, ChangeRecord(service="billing", version="v9", previous_version="v8", time=t0 - 60), fake_clock)
    await record_change(store, ChangeRecord(service="demo", version="v1", previous_version="v0", time=t0 - 3600), fake_clock)
    await r.on_alerts([down(fake_clock)], t0)
    assert await store.runs() == []
    (skipped,) = await events(store, "remediation.skipped")
    assert skipped["code"] == "no_change" and "no change to service='demo' within 30m" in skipped["reason"]
    assert len(await sent(store, d)) == 1    # the alert went to a human at once

    await record_change(store, ChangeRecord(service="demo", version="v2", previous_version="v1", time=t0 - 120,
                                            link="https://ci/42"), fake_clock)
    fake_clock.advance(10)
    await r.on_alerts([down(fake_clock, active_at=t0)], fake_clock.now())
    (run,) = await store.runs()
    await settled(store, run.id, "succeeded")
    assert (tmp_path / f"args-{run.id}.txt").read_text() == "--to=v1\n--service=demo\n"
    assert run.action["change"]["version"] == "v2"
    (recorded, *_) = await events(store, "change.recorded")
    assert recorded["service"] == "billing"


async def test_the_breaker_opening_pages_once(tmp_path, fake_clock, env):
    store, d = env
    r = remediator(make_specs(tmp_path, script="echo boom; exit 3\n"), store, d, fake_clock)
    for target in ("a", "b"):
        await r.on_alerts([down(fake_clock, target=target)], fake_clock.now())
        (run, *_) = await store.runs()
        await settled(store, run.id, "failed")
        fake_clock.advance(1)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 5
    while not await events(store, "remediation.breaker_opened"):
        assert loop.time() < deadline
        await asyncio.sleep(0.02)
    (opened,) = await events(store, "remediation.breaker_opened")
    assert opened["remediation"] == "fix" and "no runs of fix for 10m" in opened["note"]
    await r.on_alerts([down(fake_clock, target="c")], fake_clock.now())
    assert len(await store.runs()) == 2
    assert (await events(store, "remediation.skipped"))[-1]["code"] == "breaker_open"


async def test_the_resolved_notice_carries_the_verified_note(tmp_path, fake_clock, env, caplog):
    store, d = env
    series = SeriesStore()
    specs = make_specs(tmp_path, "verify: {expr: 'probe_success{target=\"demo\"} == 1', within: 30s, interval: 1s}\n")
    r = remediator(specs, store, d, fake_clock, series)
    a = down(fake_clock)
    await d.on_alerts([a], fake_clock.now())
    await r.on_alerts([a], fake_clock.now())
    assert [n["status"] for n in await sent(store, d)] == ["firing"]
    (run,) = await store.runs()
    await settled(store, run.id, "succeeded")
    fake_clock.advance(2)
    series.append(Labels.of({"__name__": "probe_success", "target": "demo"}), 1.0, fake_clock.now())
    await fake_clock.run_for(2)
    verified = await settled(store, run.id, "verified")
    assert verified.note.startswith("remediated by fix after ")
    resolved = dataclasses.replace(a, state=AlertState.RESOLVED, resolved_at=fake_clock.now())
    await d.on_alerts([resolved], fake_clock.now())
    await r.on_alerts([resolved], fake_clock.now())
    (key,) = d.group_keys_for(a.labels)
    assert d.find_group(key).alerts[a.fingerprint].annotations["remediation"] == verified.note
    caplog.set_level("INFO", logger="watchdog.notify")
    fake_clock.advance(120)
    assert [n["status"] for n in await sent(store, d)] == ["firing", "resolved"]
    (record,) = [r for r in caplog.records if getattr(r, "notice", {}).get("status") == "resolved"]
    (alert_json,) = record.notice["alerts"]
    assert alert_json["annotations"]["remediation"] == verified.note


async def test_the_note_survives_later_rounds_and_stays_with_its_episode(tmp_path, fake_clock, env):
    store, d = env
    series = SeriesStore()
    specs = make_specs(tmp_path, "verify: {expr: 'probe_success{target=\"demo\"} == 1', within: 30s, interval: 10s}\n")
    r = remediator(specs, store, d, fake_clock, series)
    a = down(fake_clock)
    await d.on_alerts([a], fake_clock.now())
    await r.on_alerts([a], fake_clock.now())
    (run,) = await store.runs()
    await settled(store, run.id, "succeeded")
    fake_clock.advance(1)
    series.append(Labels.of({"__name__": "probe_success", "target": "demo"}), 1.0, fake_clock.now())
    # the alert resolves before the verification's next tick: the check runs at once for the notice
    resolved = dataclasses.replace(a, state=AlertState.RESOLVED, resolved_at=fake_clock.now())
    (key,) = d.group_keys_for(a.labels)
    for _ in range(3):   # every round the rules report the plain alert again; the note is given again
        await d.on_alerts([resolved], fake_clock.now())
        assert "remediation" not in d.find_group(key).alerts[a.fingerprint].annotations
        await r.on_alerts([resolved], fake_clock.now())
        assert d.find_group(key).alerts[a.fingerprint].annotations["remediation"] == "remediated by fix after 1s"
    await fake_clock.run_for(10)
    assert (await settled(store, run.id, "verified")).note == "remediated by fix after 1s"
    # a later episode of the same alert that nobody remediated does not inherit the note
    fake_clock.advance(600)
    later = dataclasses.replace(a, state=AlertState.RESOLVED, active_at=fake_clock.now() - 60, fired_at=fake_clock.now() - 60,
                                resolved_at=fake_clock.now())
    await d.on_alerts([later], fake_clock.now())
    await r.on_alerts([later], fake_clock.now())
    assert "remediation" not in d.find_group(key).alerts[a.fingerprint].annotations


async def parked(tmp_path, fake_clock, store, d, guardrails=GUARDRAILS, timeout="1h"):
    r = remediator(make_specs(tmp_path, f"require_approval: true\napproval_timeout: {timeout}\n", guardrails=guardrails), store, d, fake_clock)
    alert = down(fake_clock)
    await r.on_alerts([alert], fake_clock.now())
    (run,) = await store.runs()
    assert run.status == "awaiting_approval"
    return r, alert, run


def past_run(alert, status, t, target="demo"):
    """A run of `fix` that finished before the approval (another daemon's, or one the API started)."""
    return RemediationRun(spec="fix", alert_fingerprint=alert.fingerprint if target == "demo" else f"fp-{target}",
                          labels=dict(alert.labels.to_dict()), status=status, created_at=t, started_at=t, ended_at=t,
                          target=target, trigger="alert", action={"type": "command"})


async def test_approving_rechecks_the_attempt_budget(tmp_path, fake_clock, env):
    store, d = env
    r, alert, run = await parked(tmp_path, fake_clock, store, d, guardrails="{cooldown: 0s, max_attempts: 1, window: 1h}", timeout="3h")
    # while it waited, the alert's one attempt was spent
    await store.add_run(past_run(alert, "verification_failed", fake_clock.now()))
    fake_clock.advance(30)
    with pytest.raises(ApprovalError, match="max attempts reached"):
        await r.approve(run.id, "carol")
    assert (await store.get_run(run.id)).status == "awaiting_approval" and [p.id for p in r.awaiting_approval()] == [run.id]
    (refused,) = await events(store, "remediation.approval_refused")
    assert refused["code"] == "max_attempts" and refused["by"] == "carol" and refused["run_id"] == run.id
    assert not (tmp_path / f"args-{run.id}.txt").exists()
    # once the window has passed the budget is back
    fake_clock.advance(3600)
    approved = await r.approve(run.id, "carol")
    assert approved.status == "running"
    await settled(store, run.id, "succeeded")
    assert (tmp_path / f"args-{run.id}.txt").read_text() == "--target=demo\n"


async def test_approving_rechecks_the_breaker_and_a_half_open_approval_is_the_trial(tmp_path, fake_clock, env):
    store, d = env
    r, alert, run = await parked(tmp_path, fake_clock, store, d)
    # two failures in a row on other targets open the spec's breaker (failures: 2, reset_after: 10m)
    for target in ("a", "b"):
        await store.add_run(past_run(alert, "failed", fake_clock.now(), target=target))
    with pytest.raises(ApprovalError, match="circuit breaker open"):
        await r.approve(run.id, "dave")
    assert (await store.get_run(run.id)).status == "awaiting_approval"
    fake_clock.advance(601)
    approved = await r.approve(run.id, "dave")
    assert approved.approved_by == "dave" and "half-open" in approved.note
    await settled(store, run.id, "succeeded")


async def test_approving_ignores_the_cooldown(tmp_path, fake_clock, env):
    store, d = env
    r, alert, run = await parked(tmp_path, fake_clock, store, d, guardrails="{cooldown: 1h, max_attempts: 5, window: 1h}")
    await store.add_run(past_run(alert, "verified", fake_clock.now()))
    assert (await r.approve(run.id, "erin")).status == "running"   # the human decided it is time
    await settled(store, run.id, "succeeded")


async def test_a_run_whose_alert_resolves_before_approval_is_cancelled(tmp_path, fake_clock, env):
    store, d = env
    r, alert, run = await parked(tmp_path, fake_clock, store, d)
    fake_clock.advance(10)
    await r.on_alerts([dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=fake_clock.now())], fake_clock.now())
    cancelled = await store.get_run(run.id)
    assert cancelled.status == "cancelled" and cancelled.ended_at == fake_clock.now() and "resolved" in cancelled.note
    assert (await events(store, "remediation.approval_cancelled"))[0]["run_id"] == run.id
    with pytest.raises(ApprovalError, match="status cancelled"):
        await r.approve(run.id, "late")


async def test_a_run_left_awaiting_approval_by_a_previous_daemon_is_cancelled(tmp_path, fake_clock, env):
    store, d = env
    _, alert, run = await parked(tmp_path, fake_clock, store, d)
    restarted = remediator(make_specs(tmp_path, "require_approval: true\n"), store, d, fake_clock)
    with pytest.raises(ApprovalError, match="not awaiting approval"):
        await restarted.approve(run.id, "frank")   # its prepared action died with the old daemon
    orphan = await store.get_run(run.id)
    assert orphan.status == "cancelled" and "restarted" in orphan.note
    # the first rule round of a new daemon sweeps the rest, then parks a fresh run
    await store.add_run(dataclasses.replace(run, id=None, status="awaiting_approval", note=""))
    other = remediator(make_specs(tmp_path, "require_approval: true\n"), store, d, fake_clock)
    await other.on_alerts([alert], fake_clock.now())
    statuses = sorted(r.status for r in await store.runs())
    assert statuses == ["awaiting_approval", "cancelled", "cancelled"]
    assert [p.status for p in other.awaiting_approval()] == ["awaiting_approval"]


async def test_expired_and_cancelled_runs_are_pruned_like_other_finished_runs(tmp_path, fake_clock, env):
    store, d = env
    assert {"expired", "cancelled"} <= FINISHED_RUN_STATUSES
    r, alert, run = await parked(tmp_path, fake_clock, store, d, timeout="1m")
    fake_clock.advance(61)
    await r.on_alerts([], fake_clock.now())
    assert (await store.get_run(run.id)).status == "expired"
    await store.prune(before=fake_clock.now() + 1)
    assert await store.get_run(run.id) is None
