"""The remediator end to end: real specs from YAML, real subprocesses, real SQLite store, real
SeriesStore + PromQL engine for verification, FakeClock for verification time and guardrails."""

from __future__ import annotations

import asyncio
import json
import stat
import textwrap
from pathlib import Path

import pytest

from watchdog.model import Alert, AlertState, Labels
from watchdog.promql import Engine
from watchdog.remediate.remediator import Remediator, UnknownRemediation
from watchdog.remediate.spec import load_remediation_files
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

PROBE = Labels.of({"__name__": "probe_success", "target": "demo"})


def make_specs(tmp_path: Path, body: str, scripts: dict[str, str]):
    sdir = tmp_path / "scripts"
    sdir.mkdir(exist_ok=True)
    for name, text in scripts.items():
        p = sdir / name
        p.write_text("#!/bin/sh\n" + textwrap.dedent(text))
        p.chmod(p.stat().st_mode | stat.S_IXUSR)
    path = tmp_path / "r.yml"
    path.write_text(textwrap.dedent(body).lstrip())
    specs, errors = load_remediation_files([str(path)])
    assert errors == []
    return specs


SPEC = """
remediations:
  - name: restart
    match: ['alertname="Down"']
    action:
      type: command
      argv: [scripts/fix.sh, "--target={{ $labels.target }}"]
      timeout: 5s
    verify: {expr: 'probe_success{target="demo"} == 1', within: 30s, interval: 1s}
    guardrails: {cooldown: 1m, max_attempts: 2, window: 1h}
"""

SPEC_NO_VERIFY = "\n".join(line for line in SPEC.splitlines() if "verify:" not in line) + "\n"

OK_SCRIPT = 'printf "%s\\n" "$@" > args.txt; echo fixed "$WATCHDOG_RUN_ID"\n'


class Notices:
    def __init__(self) -> None:
        self.calls: list[tuple[list[Alert], str]] = []

    async def __call__(self, alerts: list[Alert], reason: str) -> None:
        self.calls.append((alerts, reason))


@pytest.fixture
async def env(tmp_path, fake_clock):
    store = SqliteStore(":memory:", clock=fake_clock)
    await store.open()
    series = SeriesStore()
    yield store, series, Engine(series), Notices()
    await store.close()


def alert(target: str = "demo", name: str = "Down", state: AlertState = AlertState.FIRING, **annotations) -> Alert:
    return Alert(labels=Labels.of(alertname=name, target=target), annotations=annotations, state=state, active_at=0.0, value=0.0)


async def until(predicate, timeout: float = 10.0):
    """Real-time wait for a subprocess-driven condition (integration test: the action is a real process)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await predicate():
        assert loop.time() < deadline, "condition not reached in time"
        await asyncio.sleep(0.02)


async def status_is(store, run_id, *statuses):
    async def check():
        run = await store.get_run(run_id)
        return run is not None and run.status in statuses
    await until(check)
    return await store.get_run(run_id)


async def kinds(store):
    return [e.kind for e in await store.events()]


async def test_fix_then_verify_from_samples_newer_than_the_action(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC, {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    # an old healthy sample (before the action) must not count as verification
    series.append(PROBE, 1.0, fake_clock.now() - 5)
    await r.on_alerts([alert(), alert(name="Unrelated"), alert(target="x", state=AlertState.PENDING)], fake_clock.now())
    (run,) = r.in_flight()
    assert run.status == "running" and run.id is not None
    recorded = await store.get_run(run.id)
    assert recorded.status == "running" and recorded.action["argv"] == ["scripts/fix.sh", "--target=demo"]

    run = await status_is(store, run.id, "succeeded")
    assert run.exit_code == 0 and f"fixed {run.id}" in run.output_tail
    assert (tmp_path / "args.txt").read_text() == "--target=demo\n"  # cwd is the spec's directory
    fake_clock.advance(3)
    await asyncio.sleep(0.01)
    assert (await store.get_run(run.id)).status == "succeeded"  # nothing newer than the action yet

    series.append(PROBE, 1.0, fake_clock.now() + 1)
    await fake_clock.run_for(2)
    run = await status_is(store, run.id, "verified")
    assert run.verify["result"] == "verified" and run.note.startswith("remediated by restart after ")
    assert r.note_for(alert().fingerprint) == run.note
    assert await kinds(store) == ["remediation.started", "remediation.succeeded", "remediation.verified"]
    events = await store.events()
    assert all(e.data["remediation"] == "restart" and e.data["labels"]["alertname"] == "Down" and e.data["run_id"] == run.id for e in events)
    assert events[0].data["argv"] == ["scripts/fix.sh", "--target=demo"]
    assert notices.calls == []
    assert r.in_flight() == []


async def test_verification_failure_notifies_once_with_the_output_tail(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC, {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    series.append(PROBE, 1.0, fake_clock.now() - 1)  # only old samples
    await r.on_alerts([alert(summary="down")], fake_clock.now())
    (run,) = r.in_flight()
    await status_is(store, run.id, "succeeded")
    await fake_clock.run_for(31)
    run = await status_is(store, run.id, "verification_failed")
    assert run.verify["result"] == "failed" and run.verify["evaluations"] >= 30
    await until(lambda: _true(len(notices.calls) >= 1))
    await asyncio.sleep(0.05)
    assert len(notices.calls) == 1
    (noticed,), reason = notices.calls[0]
    assert "not verified within 30s" in reason
    assert noticed.annotations["remediation_output"].startswith(f"fixed {run.id}")
    assert noticed.annotations["summary"] == "down"
    assert (await kinds(store))[-1] == "remediation.verification_failed"


async def test_failed_action_is_recorded_and_notified_without_verification(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC, {"fix.sh": "echo broken >&2; exit 4\n"})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    await r.on_alerts([alert()], fake_clock.now())
    (run,) = r.in_flight()
    run = await status_is(store, run.id, "failed")
    assert run.exit_code == 4 and "broken" in run.output_tail and run.note == "exit code 4"
    await until(lambda: _true(not r.in_flight()))
    assert len(notices.calls) == 1 and "exit code 4" in notices.calls[0][1]
    assert notices.calls[0][0][0].annotations["remediation_output"] == "broken\n"
    events = await store.events()
    assert [e.kind for e in events] == ["remediation.started", "remediation.failed"]
    assert events[1].data["exit_code"] == 4


async def test_hostile_label_is_refused_recorded_and_notified(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC.replace('"--target={{ $labels.target }}"', '"{{ $labels.target }}"'), {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    hostile = Alert(labels=Labels.of(alertname="Down", target="--config=/etc/shadow"), annotations={}, state=AlertState.FIRING, active_at=0)
    await r.on_alerts([hostile], fake_clock.now())
    assert r.in_flight() == []
    (run,) = await store.runs()
    assert run.status == "failed" and run.note.startswith("refused: argv[1]") and run.started_at is None
    assert not (tmp_path / "args.txt").exists()
    assert len(notices.calls) == 1
    assert await kinds(store) == ["remediation.failed"]


async def test_guardrails_across_rounds_cooldown_then_attempt_budget(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC_NO_VERIFY, {"fix.sh": "exit 0\n"})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)

    async def round_and_settle():
        await r.on_alerts([alert()], fake_clock.now())
        await until(lambda: _true(not r.in_flight()))

    await round_and_settle()
    assert [x.status for x in await store.runs()] == ["succeeded"]
    for _ in range(5):  # every 10 s rule round within the cooldown: nothing new
        fake_clock.advance(10)
        await round_and_settle()
    assert len(await store.runs()) == 1
    fake_clock.advance(15)
    await round_and_settle()
    assert len(await store.runs()) == 2
    fake_clock.advance(61)
    await round_and_settle()
    fake_clock.advance(61)
    await round_and_settle()
    assert len(await store.runs()) == 2  # max_attempts 2 per hour: the daemon stops trying...
    skipped = [e for e in await store.events() if e.kind == "remediation.skipped"]
    assert len(skipped) == 1 and skipped[0].data["code"] == "max_attempts"
    assert len(notices.calls) == 1 and "gave up" in notices.calls[0][1]  # ...and tells a human, once


async def test_kill_switch_and_dry_run(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    body = SPEC + "    dry_run: true\n"
    specs = make_specs(tmp_path, body, {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    await r.set_kill_switch(True, by="test")
    assert await r.kill_switch()
    await r.on_alerts([alert()], fake_clock.now())
    assert await store.runs() == []
    await r.set_kill_switch(False)
    await r.on_alerts([alert()], fake_clock.now())
    (run,) = await store.runs()
    assert run.status == "dry_run" and "would have run ['scripts/fix.sh', '--target=demo']" in run.note
    assert r.in_flight() == [] and not (tmp_path / "args.txt").exists()
    assert len(notices.calls) == 1
    ev = [e for e in await store.events()]
    assert [e.kind for e in ev] == ["remediation.kill_switch", "remediation.skipped", "remediation.kill_switch", "remediation.dry_run"]


async def test_manual_run_uses_the_same_guardrails_and_records_denials(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    specs = make_specs(tmp_path, SPEC_NO_VERIFY, {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    with pytest.raises(UnknownRemediation):
        await r.run_manual("nope", {})
    run = await r.run_manual("restart", {"alertname": "Down", "target": "web-1"}, wait=True)
    assert run.trigger == "manual" and run.status == "succeeded"
    assert (tmp_path / "args.txt").read_text() == "--target=web-1\n"
    again = await r.run_manual("restart", {"alertname": "Down", "target": "web-1"})
    assert again.status == "skipped" and again.note.startswith("cooldown")
    dry = await r.run_manual("restart", {"alertname": "Down", "target": "web-2"}, dry_run=True)
    assert dry.status == "dry_run"
    statuses = sorted(x.status for x in await store.runs())
    assert statuses == ["dry_run", "skipped", "succeeded"]


async def test_drain_kills_a_hanging_action_and_marks_it_interrupted(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    pidfile = tmp_path / "child.pid"
    specs = make_specs(tmp_path, SPEC.replace("timeout: 5s", "timeout: 60s"),
                       {"fix.sh": f"sleep 300 & echo $! > {pidfile}\nwait\n"})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock, notify_now=notices)
    await r.on_alerts([alert()], fake_clock.now())
    (run,) = r.in_flight()
    await until(lambda: _true(pidfile.exists() and pidfile.read_text().strip() != ""))
    await r.drain(0.2)
    assert r.in_flight() == []
    run = await store.get_run(run.id)
    assert run.status == "interrupted" and "shutdown" in run.note
    child = int(pidfile.read_text())
    for _ in range(100):  # SIGKILL delivery is asynchronous
        if _dead(child):
            break
        await asyncio.sleep(0.02)
    assert _dead(child)
    assert (await kinds(store))[-1] == "remediation.interrupted"
    # an interrupted run spends the budget: after the cooldown the next is the second and last attempt
    fake_clock.advance(120)
    await r.on_alerts([alert()], fake_clock.now())
    (second,) = r.in_flight()
    await r.drain(0)  # cancelled at once, possibly before it even spawned: still recorded, nothing left behind
    assert r.in_flight() == []
    assert (await store.get_run(second.id)).status == "interrupted"


async def test_first_matching_spec_wins_and_reload_swaps_specs(tmp_path, fake_clock, env):
    store, series, engine, notices = env
    body = """
    remediations:
      - name: first
        match: ['alertname="Down"', 'target="demo"']
        action: {type: command, argv: [scripts/fix.sh, first]}
      - name: second
        match: ['alertname="Down"']
        action: {type: command, argv: [scripts/fix.sh, second]}
    """
    specs = make_specs(tmp_path, body, {"fix.sh": OK_SCRIPT})
    r = Remediator(specs, store=store, engine=engine, clock=fake_clock)
    assert r.match({"alertname": "Down", "target": "demo"}).name == "first"
    assert r.match({"alertname": "Down", "target": "other"}).name == "second"
    r.update_specs(specs[1:])
    assert r.match({"alertname": "Down", "target": "demo"}).name == "second"
    await r.on_alerts([alert()], fake_clock.now())
    await until(lambda: _true(not r.in_flight()))
    (run,) = await r.runs()
    assert run.spec == "second" and json.loads(json.dumps(run.action))["argv"] == ["scripts/fix.sh", "second"]


async def _true(value: bool) -> bool:
    return value


def _dead(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    except OSError:
        return True
    return state == "Z"


async def test_silenced_alerts_are_skipped_unless_the_spec_says_run(tmp_path, fake_clock, env):
    from watchdog.remediate import metrics

    store, series, engine, notices = env
    skip_spec = make_specs(tmp_path, SPEC_NO_VERIFY, {"fix.sh": OK_SCRIPT})
    r = Remediator(skip_spec, store=store, engine=engine, clock=fake_clock, is_muted=lambda a: True)
    before = metrics.DENIED.labels("restart", "silenced")._value.get()
    await r.on_alerts([alert()], fake_clock.now())
    assert await store.runs() == [] and r.in_flight() == []
    assert metrics.DENIED.labels("restart", "silenced")._value.get() == before + 1
    (event,) = await store.events()
    assert event.kind == "remediation.skipped" and event.data["code"] == "silenced"

    run_spec = make_specs(tmp_path, SPEC_NO_VERIFY + "    when_silenced: run\n", {"fix.sh": OK_SCRIPT})
    r.update_specs(run_spec)
    await r.on_alerts([alert()], fake_clock.now())
    (run,) = r.in_flight()
    await status_is(store, run.id, "succeeded")
