"""Verification wakes when a sample it reads lands; the remediator probes the target when the action ends.

Real SeriesStore + Engine, real SqliteStore (in memory), FakeClock: time moves only when the test says.
"""

from __future__ import annotations

import asyncio
import textwrap
from dataclasses import dataclass

import pytest

from watchdog.model import Alert, AlertState, Labels
from watchdog.promql import Engine
from watchdog.remediate.base import ActionResult
from watchdog.remediate.remediator import Remediator
from watchdog.remediate.spec import Verify, load_remediation_files
from watchdog.remediate.verify import Landings, expr_targets, verify_after
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

DEMO = Labels.of(__name__="probe_success", target="demo")
OTHER = Labels.of(__name__="probe_success", target="other")
CHECK = Verify(expr='probe_success{target="demo"} == 1', within=30.0, interval=10.0)


async def settle() -> None:
    for _ in range(20):
        await asyncio.sleep(0)


def land(series: SeriesStore, landings: Landings, labels: Labels, value: float, t: float) -> None:
    series.append(labels, value, t)
    landings.landed([labels])


async def test_a_landing_sample_wakes_the_check_before_its_interval(fake_clock):
    series, landings = SeriesStore(), Landings()
    end = fake_clock.now()
    task = asyncio.create_task(verify_after(CHECK, end, engine=Engine(series), clock=fake_clock, landings=landings))
    await settle()
    fake_clock.advance(0.2)
    land(series, landings, OTHER, 1, fake_clock.now())     # a series the check does not read: no wake
    await settle()
    assert not task.done() and len(landings) == 1
    land(series, landings, DEMO, 1, fake_clock.now())
    await settle()
    outcome = task.result()
    assert outcome.verified and outcome.after == pytest.approx(0.2) and outcome.evaluations == 2


async def test_only_samples_newer_than_the_action_count(fake_clock):
    series, landings = SeriesStore(), Landings()
    end = fake_clock.now()
    series.append(DEMO, 1, end)                               # taken at the action's end: too early
    task = asyncio.create_task(verify_after(CHECK, end, engine=Engine(series), clock=fake_clock, landings=landings))
    await settle()
    assert not task.done()
    fake_clock.advance(0.4)
    land(series, landings, DEMO, 0, fake_clock.now())         # newer, but still down
    await settle()
    assert not task.done()
    fake_clock.advance(0.6)
    land(series, landings, DEMO, 1, fake_clock.now())
    await settle()
    assert task.result().verified and task.result().after == pytest.approx(1.0)


async def test_without_landings_the_interval_still_decides(fake_clock):
    series = SeriesStore()
    end = fake_clock.now()
    task = asyncio.create_task(verify_after(CHECK, end, engine=Engine(series), clock=fake_clock))
    await settle()
    fake_clock.advance(0.5)
    series.append(DEMO, 1, fake_clock.now())
    await settle()
    assert not task.done()
    fake_clock.advance(9.5)
    await settle()
    assert task.result().verified and task.result().after == pytest.approx(10.0)


def test_expr_targets_names_equality_matchers_only():
    engine = Engine(SeriesStore())
    assert expr_targets('probe_success{target="demo"} == 1 and up{target="db", job="x"}', engine) == {"demo", "db"}
    assert expr_targets('probe_success{target=~"de.*"} == 1', engine) == set()
    assert expr_targets('probe_success{target="demo"', engine) == set()   # unparseable: nothing to probe


@dataclass
class _Prepared:
    def describe(self):
        return {"type": "command", "argv": ["fix"]}


class InstantRunner:
    """An action that ends successfully at once (the clock does not move)."""

    def prepare(self, action, ctx):
        return _Prepared()

    async def execute(self, prepared, *, run_id, ctx, clock):
        return ActionResult(0, "fixed", False, clock.now(), clock.now())


async def test_remediator_probes_the_target_at_once_and_verifies_on_its_sample(tmp_path, fake_clock):
    path = tmp_path / "r.yml"
    path.write_text(textwrap.dedent("""
        remediations:
          - name: fix
            match: ['alertname="Down"']
            action: {type: command, argv: [/bin/true]}
            verify: {expr: 'probe_success{target="demo"} == 1', within: 30s, interval: 10s}
            guardrails: {cooldown: 0s, max_attempts: 10, window: 1h}
    """))
    specs, errors = load_remediation_files([str(path)])
    assert errors == []
    store = SqliteStore(":memory:", clock=fake_clock)
    await store.open()
    series = SeriesStore()
    asked: list[str] = []
    remediator: Remediator

    def probe_now(target: str) -> bool:
        asked.append(target)
        return True

    remediator = Remediator(specs, store=store, engine=Engine(series), clock=fake_clock, probe_now=probe_now,
                            runners={"command": InstantRunner()})
    try:
        alert = Alert(labels=Labels.of(alertname="Down", target="demo"), annotations={}, state=AlertState.FIRING,
                      active_at=fake_clock.now(), fired_at=fake_clock.now())
        await remediator.on_alerts([alert], fake_clock.now())
        for _ in range(50):
            await asyncio.sleep(0.001)   # the store's thread answers in real time
            if asked:
                break
        assert asked == ["demo"]          # asked as soon as the action ended, before any clock movement
        fake_clock.advance(0.05)          # the probe's sample lands 50 ms later
        series.append(DEMO, 1, fake_clock.now())
        remediator.samples_landed([DEMO])
        for _ in range(200):
            await asyncio.sleep(0.001)
            runs = await store.runs(limit=5)
            if runs and runs[0].status == "verified":
                break
        (run,) = await store.runs(limit=5)
        assert run.status == "verified" and run.verify["after_seconds"] == pytest.approx(0.05)
    finally:
        await remediator.drain(0)
        await store.close()
