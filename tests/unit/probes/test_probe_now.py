"""ProbeScheduler.probe_now on a FakeClock: at once, never overlapping, counted as the target's run."""

from __future__ import annotations

import asyncio

import pytest
from prometheus_client import REGISTRY

from watchdog.model import Labels
from watchdog.probes.base import ProbeResult
from watchdog.probes.registry import TARGET_MODELS
from watchdog.probes.scheduler import ProbeScheduler


class GatedProbe:
    """Records start times; blocks on `gate` when one is set."""

    instances: dict[str, "GatedProbe"] = {}

    def __init__(self, target, *, clock, session=None):
        self.target, self.clock = target, clock
        self.starts: list[float] = []
        self.gate: asyncio.Event | None = None
        GatedProbe.instances[target.name] = self

    async def probe(self) -> ProbeResult:
        self.starts.append(self.clock.monotonic())
        if self.gate is not None:
            await self.gate.wait()
        return ProbeResult(True, 0.01, "", ((Labels.of(__name__="probe_success", target=self.target.name), 1.0),))

    async def close(self) -> None:
        pass


def target(name: str, interval: str = "10s"):
    return TARGET_MODELS["command"].model_validate({"name": name, "type": "command", "argv": ["true"], "interval": interval})


async def settle() -> None:
    for _ in range(30):
        await asyncio.sleep(0)


def skipped(name: str) -> float:
    return REGISTRY.get_sample_value("watchdog_probe_skipped_total", {"target": name}) or 0.0


@pytest.fixture
async def scheduler(fake_clock):
    GatedProbe.instances.clear()
    sunk: list[tuple[str, float]] = []
    s = ProbeScheduler([target("pn-a"), target("pn-b")], clock=fake_clock, sink=lambda n, r, t: sunk.append((n, t)),
                       probe_factories={"command": GatedProbe}, session=object())
    task = asyncio.create_task(s.run())
    await settle()
    fake_clock.advance(10.0)              # every target had its first grid run
    await settle()
    s.sunk = sunk                         # type: ignore[attr-defined]
    yield s
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await s.close()


async def test_probe_now_runs_at_once_and_feeds_the_sink(scheduler, fake_clock):
    probe = GatedProbe.instances["pn-a"]
    before = len(probe.starts)
    fake_clock.advance(0.3)               # off the grid
    assert scheduler.probe_now("pn-a") is True
    await settle()
    assert len(probe.starts) == before + 1 and probe.starts[-1] == fake_clock.monotonic()
    assert scheduler.sunk[-1] == ("pn-a", fake_clock.now())
    assert len(GatedProbe.instances["pn-b"].starts) == 1     # other targets untouched
    status = {s.name: s for s in scheduler.status()}
    assert status["pn-a"].last_probe == fake_clock.now() and status["pn-a"].health == "up"


async def test_probe_now_of_an_unknown_target_is_false(scheduler):
    assert scheduler.probe_now("nope") is False


async def test_probe_now_never_overlaps_a_run_in_flight(scheduler, fake_clock):
    probe = GatedProbe.instances["pn-a"]
    probe.gate = asyncio.Event()
    assert scheduler.probe_now("pn-a")
    await settle()
    started = len(probe.starts)
    fake_clock.advance(0.5)
    assert scheduler.probe_now("pn-a")    # asked while one is in flight: queued, not started
    await settle()
    assert len(probe.starts) == started
    fake_clock.advance(0.2)
    probe.gate.set()                      # the first ends; the queued run starts after it, once
    await settle()
    assert len(probe.starts) == started + 1 and probe.starts[-1] == fake_clock.monotonic()
    await settle()
    assert len(probe.starts) == started + 1


async def test_grid_run_due_during_an_on_demand_run_is_not_a_skip(scheduler, fake_clock):
    probe = GatedProbe.instances["pn-a"]
    next_run = scheduler.next_runs()["pn-a"]
    skips = skipped("pn-a")
    probe.gate = asyncio.Event()
    fake_clock.advance(next_run - fake_clock.monotonic() - 0.1)
    assert scheduler.probe_now("pn-a")
    await settle()
    starts = len(probe.starts)
    fake_clock.advance(0.2)               # the grid run comes due while the on-demand run is in flight
    await settle()
    assert len(probe.starts) == starts    # it counts as that run: no overlap...
    assert skipped("pn-a") == skips       # ...and no skip recorded
    fake_clock.advance(10.0)              # but a grid run overlapping a grid run is a skip, as before
    await settle()
    assert skipped("pn-a") == skips + 1
    probe.gate.set()
    await settle()
    assert scheduler.next_runs()["pn-a"] == pytest.approx(next_run + 20.0)   # the grid goes on
