"""ProbeScheduler on a FakeClock: offsets, intervals, skips, reload, failures. No real sleeps."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from watchdog.model import Labels
from watchdog.probes.base import ProbeResult
from watchdog.probes.registry import TARGET_MODELS
from watchdog.probes.scheduler import ProbeScheduler, stable_offset


class ScriptedProbe:
    """A probe plug-in whose behaviour each test sets: succeed, fail, raise or block."""

    instances: dict[str, "ScriptedProbe"] = {}

    def __init__(self, target, *, clock, session=None):
        self.target = target
        self.clock = clock
        self.starts: list[float] = []
        self.gate: asyncio.Event | None = None
        self.fail_with: str = ""
        self.raise_exc: Exception | None = None
        self.closed = False
        ScriptedProbe.instances[target.name] = self

    async def probe(self) -> ProbeResult:
        self.starts.append(self.clock.monotonic())
        if self.gate is not None:
            await self.gate.wait()
        if self.raise_exc is not None:
            raise self.raise_exc
        ok = not self.fail_with
        return ProbeResult(ok, 0.01, self.fail_with, ((Labels.of(__name__="probe_success", target=self.target.name), float(ok)),))

    async def close(self) -> None:
        self.closed = True


def target(name: str, **kw):
    return TARGET_MODELS["command"].model_validate({"name": name, "type": "command", "argv": ["true"], **kw})


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


async def advance(clock, seconds: float, step: float = 0.25) -> None:
    end = clock.monotonic() + seconds
    while clock.monotonic() < end - 1e-9:
        clock.advance(min(step, end - clock.monotonic()))
        await settle()


@pytest.fixture
def sink_calls():
    return []


@pytest.fixture
async def make_scheduler(fake_clock, sink_calls):
    made = []

    def make(targets, **kw):
        ScriptedProbe.instances.clear()
        s = ProbeScheduler(
            targets, clock=fake_clock, sink=lambda n, r, t: sink_calls.append((n, r, t)),
            probe_factories={"command": ScriptedProbe}, session=object(), **kw,
        )
        task = asyncio.create_task(s.run())
        made.append((s, task))
        return s

    yield make
    for s, task in made:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await s.close()


async def test_targets_spread_over_interval_by_stable_offset(fake_clock, make_scheduler):
    names = [f"t{i}" for i in range(20)]
    s = make_scheduler([target(n, interval="10s") for n in names])
    await settle()
    assert s.first_round_scheduled
    runs = s.next_runs()
    anchor = fake_clock.monotonic()
    for n in names:
        assert runs[n] == pytest.approx(anchor + stable_offset(n, 10.0))
        assert anchor <= runs[n] < anchor + 10
    assert len({round(v, 6) for v in runs.values()}) == 20
    # spread: not all in one half of the interval
    assert any(v - anchor < 5 for v in runs.values()) and any(v - anchor >= 5 for v in runs.values())
    assert stable_offset("t1", 10.0) == stable_offset("t1", 10.0) != stable_offset("t2", 10.0)


async def test_each_target_runs_once_per_interval_and_feeds_the_sink(fake_clock, make_scheduler, sink_calls):
    s = make_scheduler([target("a", interval="5s"), target("b", interval="10s")])
    await settle()
    await advance(fake_clock, 30)
    a, b = ScriptedProbe.instances["a"], ScriptedProbe.instances["b"]
    assert len(a.starts) == 6 and len(b.starts) == 3
    assert [round(y - x, 6) for x, y in zip(a.starts, a.starts[1:])] == [5.0] * 5
    assert {n for n, _, _ in sink_calls} == {"a", "b"}
    name, result, t = sink_calls[0]
    assert result.success and result.samples[0][0].get("target") == name
    assert t >= 1_700_000_000.0
    assert s.first_round_done.is_set()
    st = {x.name: x for x in s.status()}
    assert st["a"].health == "up" and st["a"].last_error == "" and st["a"].interval == 5.0


async def test_slow_probe_never_overlaps_and_skips_are_counted(fake_clock, make_scheduler):
    before = REGISTRY.get_sample_value("watchdog_probe_skipped_total", {"target": "slow"}) or 0.0
    s = make_scheduler([target("slow", interval="2s", timeout="1s")])
    await settle()
    probe = ScriptedProbe.instances["slow"]
    probe.gate = asyncio.Event()
    await advance(fake_clock, 7)  # first run starts within 2s, then 3 more ticks come due
    assert len(probe.starts) == 1
    skipped = s.status()[0].skipped
    assert skipped == 3
    assert REGISTRY.get_sample_value("watchdog_probe_skipped_total", {"target": "slow"}) == before + 3
    probe.gate.set()
    await settle()
    await advance(fake_clock, 2)
    assert len(probe.starts) == 2


async def test_failures_and_exceptions_become_reasons(fake_clock, make_scheduler, sink_calls):
    s = make_scheduler([target("bad", interval="1s"), target("boom", interval="1s"), target("good", interval="1s")])
    await settle()
    ScriptedProbe.instances["bad"].fail_with = "status 500 not in 2xx"
    ScriptedProbe.instances["boom"].raise_exc = RuntimeError("bug")
    await advance(fake_clock, 3)
    st = {x.name: x for x in s.status()}
    assert st["bad"].health == "down" and st["bad"].last_error == "status 500 not in 2xx"
    assert st["boom"].health == "down" and st["boom"].last_error == "probe error: RuntimeError: bug"
    assert st["good"].health == "up"
    assert len(ScriptedProbe.instances["good"].starts) == 3  # the others did not stop it


async def test_reload_keeps_unchanged_adds_new_stops_removed(fake_clock, make_scheduler):
    s = make_scheduler([target("keep", interval="10s"), target("gone", interval="10s"), target("change", interval="10s")])
    await settle()
    await advance(fake_clock, 10)
    keep_probe, gone_probe, change_probe = (ScriptedProbe.instances[n] for n in ("keep", "gone", "change"))
    gone_probe.gate = asyncio.Event()  # in flight at reload time
    keep_next = s.next_runs()["keep"]
    await advance(fake_clock, 10)
    s.update_targets([target("keep", interval="10s"), target("change", interval="10s", labels={"v": "2"}), target("new", interval="10s")])
    await settle()
    assert s.next_runs()["keep"] == keep_next + 10
    assert set(s.next_runs()) == {"keep", "change", "new"}
    assert gone_probe.closed and change_probe.closed and not keep_probe.closed
    assert ScriptedProbe.instances["change"] is not change_probe
    assert ScriptedProbe.instances["change"].target.labels == {"v": "2"}
    await advance(fake_clock, 10)
    assert len(ScriptedProbe.instances["new"].starts) == 1
    assert len(keep_probe.starts) == 3
    assert len(gone_probe.starts) == 2
    assert "gone" not in {x.name for x in s.status()}


async def test_reload_wakes_loop_for_an_earlier_new_target(fake_clock, make_scheduler):
    s = make_scheduler([target("long", interval="1h")])
    await settle()
    s.update_targets([target("long", interval="1h"), target("short", interval="1s")])
    await advance(fake_clock, 2)
    assert len(ScriptedProbe.instances["short"].starts) >= 1


async def test_global_defaults_fill_interval_and_timeout(fake_clock, make_scheduler):
    s = make_scheduler([target("d"), target("e", interval="30s")], default_interval=60.0, default_timeout=10.0)
    await settle()
    st = {x.name: x for x in s.status()}
    assert (st["d"].interval, st["d"].timeout) == (60.0, 10.0)
    assert (st["e"].interval, st["e"].timeout) == (30.0, 10.0)
    assert ScriptedProbe.instances["d"].target.timeout == 10.0


async def test_status_before_first_probe_is_unknown(fake_clock, make_scheduler):
    s = make_scheduler([target("x", interval="1h")])
    await settle()
    (st,) = s.status()
    assert st.health == "unknown" and st.last_probe is None
    assert st.labels == {"target": "x", "job": "x", "instance": "x"}
    assert not s.first_round_done.is_set()
