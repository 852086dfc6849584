"""Housekeeping on a real AsyncIOScheduler: jobs run on their interval, failures never stop it.

Real short waits (well under 2 s): APScheduler keeps its own wall-clock time.
"""

from __future__ import annotations

import asyncio

from prometheus_client import REGISTRY

from watchdog.housekeeping import Housekeeping, HousekeepingJob, retention_job
from watchdog.model import Event
from watchdog.state.sqlite import SqliteStore


async def _wait_until(predicate, timeout: float = 1.5) -> bool:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        if loop.time() > deadline:
            return False
        await asyncio.sleep(0.01)
    return True


async def test_interval_jobs_run_repeatedly_and_a_failing_job_is_counted_not_fatal(fake_clock):
    runs: list[float] = []

    async def ok(now: float) -> None:
        runs.append(now)

    async def boom(now: float) -> None:
        raise RuntimeError("nope")

    failures_before = REGISTRY.get_sample_value("watchdog_housekeeping_job_failures_total", {"job": "it-boom"}) or 0.0
    hk = Housekeeping(fake_clock, jobs=[HousekeepingJob("it-ok", 0.05, ok), HousekeepingJob("it-boom", 0.05, boom),
                                        HousekeepingJob("it-cron", "0 3 * * *", ok)])
    hk.start()
    try:
        assert hk.running
        assert await _wait_until(lambda: len(runs) >= 3)
        assert await _wait_until(lambda: (REGISTRY.get_sample_value(
            "watchdog_housekeeping_job_failures_total", {"job": "it-boom"}) or 0.0) >= failures_before + 2)
        assert set(runs) == {fake_clock.now()}  # jobs get the injected clock's time, not the wall clock
    finally:
        await hk.shutdown()
    assert not hk.running
    after = len(runs)
    await asyncio.sleep(0.15)
    assert len(runs) == after  # nothing runs after shutdown


async def test_retention_runs_at_start_against_a_real_store(tmp_path, fake_clock):
    async with SqliteStore(str(tmp_path / "w.db"), clock=fake_clock) as store:
        await store.append_event(Event(fake_clock.now() - 40 * 86400, "old"))
        await store.append_event(Event(fake_clock.now() - 60, "new"))
        hk = Housekeeping(fake_clock, jobs=[retention_job(store, 30 * 86400)])
        hk.start()
        try:
            kinds: list[str] = []
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 1.5
            while kinds != ["new"] and loop.time() < deadline:
                await asyncio.sleep(0.01)
                kinds = [e.kind for e in await store.events()]
            assert kinds == ["new"]
        finally:
            await hk.shutdown()


async def test_shutdown_waits_for_a_running_job_then_cuts_off_a_hung_one(fake_clock):
    finished: list[str] = []
    release = asyncio.Event()

    async def slow(now: float) -> None:
        await asyncio.sleep(0.05)
        finished.append("slow")

    async def hung(now: float) -> None:
        await release.wait()
        finished.append("hung")

    hk = Housekeeping(fake_clock, jobs=[HousekeepingJob("it-slow", 3600, slow, run_at_start=True),
                                        HousekeepingJob("it-hung", 3600, hung, run_at_start=True)])
    hk.start()
    await asyncio.sleep(0)
    await hk.shutdown(timeout=0.3)
    assert finished == ["slow"]


async def test_run_now_runs_a_job_once_and_refuses_overlap(fake_clock):
    gate = asyncio.Event()
    calls: list[float] = []

    async def job(now: float) -> None:
        calls.append(now)
        await gate.wait()

    hk = Housekeeping(fake_clock, jobs=[HousekeepingJob("it-now", 3600, job)])
    hk.start()
    try:
        first = asyncio.create_task(hk.run_now("it-now"))
        await asyncio.sleep(0)
        assert await hk.run_now("it-now") is False  # already running
        gate.set()
        assert await first is True
        assert calls == [fake_clock.now()]
    finally:
        await hk.shutdown()
