"""Early evaluation: a group that reads a probe's series is evaluated as soon as the probe result lands.

Real SeriesStore, Engine and RuleManager on a FakeClock; the daemon's sink is
played by `land()`: append the batch, then `series_appended`.
"""

from __future__ import annotations

import asyncio

import pytest

from watchdog.model import AlertState, Labels
from watchdog.promql import Engine
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule, RuleGroup
from watchdog.rules.readers import ReaderIndex
from watchdog.tsdb import SeriesStore

from rules_memstore import MemoryStore

DEMO = Labels.of(__name__="probe_success", target="demo", job="demo")
DEMO_DURATION = Labels.of(__name__="probe_duration_seconds", target="demo", job="demo")
OTHER = Labels.of(__name__="probe_success", target="other", job="other")


def group(name: str, expr: str, *, for_: float = 0.0, interval: float = 10.0) -> RuleGroup:
    rule = AlertingRule(name=f"{name}Alert", expr=expr, for_=for_, labels={}, annotations={},
                        file=f"rules/{name}.rules.yml", group=name, index=0)
    return RuleGroup(name=name, file=f"rules/{name}.rules.yml", interval=interval, rules=(rule,))


class Loop:
    def __init__(self, groups, clock, **kw):
        self.clock = clock
        self.series = SeriesStore()
        self.rounds: list[float] = []

        async def on_alerts(alerts, t):
            self.rounds.append(t - T0)

        self.manager = RuleManager(groups, engine=Engine(self.series), series=self.series, store=MemoryStore(),
                                   clock=clock, on_alerts=on_alerts, **kw)

    def land(self, source: str, labels: Labels, value: float) -> None:
        self.series.append_batch(source, [(labels, value)], self.clock.now())
        self.manager.series_appended(source, [labels])

    async def settle(self) -> None:
        for _ in range(10):
            await asyncio.sleep(0)

    def firing(self) -> list[str]:
        return sorted(a.name for a in self.manager.alerts() if a.state is AlertState.FIRING)


T0 = 1_700_000_000.0


@pytest.fixture
async def loop(fake_clock):
    fake_clock.set(T0)
    loops: list[asyncio.Task] = []

    def start(groups, **kw) -> Loop:
        lp = Loop(groups, fake_clock, **kw)
        loops.append(asyncio.create_task(lp.manager.run()))
        return lp

    yield start
    for task in loops:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task


def test_reader_index_matches_selectors_of_each_group():
    engine = Engine(SeriesStore())
    index = ReaderIndex([
        ("demo", ['probe_success{target="demo"} == 0']),
        ("any-probe", ['avg_over_time(probe_duration_seconds[5m]) > 1']),
        ("regex", ['{__name__=~"probe_.*", target=~"oth.*"} == 0']),
        ("broken", ['probe_success{target="demo"']),   # does not parse: reads nothing here
        ("scrape", ['up == 0']),
    ], engine.parse)
    assert index.groups_reading("demo", [DEMO]) == {"demo"}
    assert index.groups_reading("demo", [DEMO, DEMO_DURATION]) == {"demo", "any-probe"}
    assert index.groups_reading("other", [OTHER]) == {"regex"}
    assert index.groups_reading("nothing", [Labels.of(__name__="unrelated")]) == frozenset()
    # the cached answer is per batch: a different batch of the same source is matched again
    assert index.groups_reading("demo", [DEMO_DURATION]) == {"any-probe"}


async def test_probe_result_triggers_evaluation_at_once(loop, fake_clock):
    lp = loop([group("demo", 'probe_success{target="demo"} == 0'), group("other", 'probe_success{target="other"} == 0')])
    await fake_clock.run_for(12)                    # past the first grid evaluation of both groups
    grid = list(lp.rounds)
    assert grid and all(t <= 12 for t in grid)
    fake_clock.advance(0.37)                        # somewhere between grid points
    lp.land("demo", DEMO, 0)
    await lp.settle()
    assert lp.rounds[len(grid):] == [pytest.approx(12.37)]   # no clock movement needed: evaluated right away
    assert lp.firing() == ["demoAlert"]
    health = {g["name"]: g["last_evaluation"] for g in lp.manager.health()}
    assert health["demo"] == pytest.approx(T0 + 12.37)
    assert health["other"] < T0 + 12.37             # a group that does not read the target keeps its grid


async def test_series_nobody_reads_trigger_nothing(loop, fake_clock):
    lp = loop([group("demo", 'probe_success{target="demo"} == 0')])
    await fake_clock.run_for(12)
    before = len(lp.rounds)
    fake_clock.advance(0.5)
    lp.land("other", OTHER, 0)
    await lp.settle()
    assert len(lp.rounds) == before


async def test_early_evaluations_are_rate_limited_per_group(loop, fake_clock):
    lp = loop([group("demo", 'probe_success{target="demo"} == 0')], early_evaluation_gap=0.25)
    await fake_clock.run_for(12)
    before = len(lp.rounds)
    fake_clock.advance(0.3)
    lp.land("demo", DEMO, 1)
    await lp.settle()
    fake_clock.advance(0.1)                          # within the gap: held back, not dropped
    lp.land("demo", DEMO, 0)
    await lp.settle()
    assert lp.rounds[before:] == [pytest.approx(12.3)]
    assert lp.firing() == []
    await fake_clock.run_for(0.2, step=0.01)
    assert lp.rounds[before:] == [pytest.approx(12.3), pytest.approx(12.55, abs=0.011)]   # last + gap
    assert lp.firing() == ["demoAlert"]


async def test_for_duration_keeps_prometheus_semantics(loop, fake_clock):
    """Extra evaluations do not shorten `for`: firing comes at the first evaluation >= activeAt + for."""
    lp = loop([group("demo", 'probe_success{target="demo"} == 0', for_=3.0)], early_evaluation_gap=0.0)
    await fake_clock.run_for(12)
    states = []
    for _ in range(5):                               # a probe every second, off the evaluation grid
        fake_clock.advance(1.0)
        lp.land("demo", DEMO, 0)
        await lp.settle()
        states.append([a.state.value for a in lp.manager.alerts()])
    assert states == [["pending"], ["pending"], ["pending"], ["firing"], ["firing"]]
    active = lp.manager.alerts()[0]
    assert active.fired_at - active.active_at == pytest.approx(3.0)


async def test_early_evaluation_can_be_turned_off(loop, fake_clock):
    lp = loop([group("demo", 'probe_success{target="demo"} == 0')], early_evaluation_gap=None)
    await fake_clock.run_for(12)
    before = len(lp.rounds)
    fake_clock.advance(0.4)
    lp.land("demo", DEMO, 0)
    await lp.settle()
    assert len(lp.rounds) == before and lp.firing() == []
