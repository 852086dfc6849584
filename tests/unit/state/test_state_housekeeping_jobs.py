"""Housekeeping job definitions and single runs on a FakeClock (no scheduler, no sleeps)."""

from __future__ import annotations

import pytest
from prometheus_client import REGISTRY

from watchdog.housekeeping import Housekeeping, HousekeepingJob, retention_job, run_job
from watchdog.model import Event
from watchdog.state.sqlite import SqliteStore


def _metric(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def _noop(now: float) -> None:
    return None


@pytest.mark.parametrize("schedule", [0, -1, True, "not a cron", "61 * * * *", None])
def test_bad_schedules_are_refused(schedule):
    with pytest.raises(ValueError, match="housekeeping job 'j'"):
        HousekeepingJob("j", schedule, _noop)


def test_intervals_and_crontab_expressions_are_accepted():
    assert HousekeepingJob("a", 0.5, _noop).schedule == 0.5
    assert HousekeepingJob("b", "17 * * * *", _noop).schedule == "17 * * * *"


def test_duplicate_job_names_are_refused(fake_clock):
    with pytest.raises(ValueError, match="duplicate housekeeping job names: a"):
        Housekeeping(fake_clock, jobs=[HousekeepingJob("a", 1, _noop), HousekeepingJob("a", 2, _noop)])


async def test_run_job_passes_clock_now_and_counts_success(fake_clock):
    seen: list[float] = []

    async def job(now: float) -> None:
        seen.append(now)

    before = _metric("watchdog_housekeeping_job_runs_total", job="unit-ok", outcome="ok")
    assert await run_job(HousekeepingJob("unit-ok", 60, job), fake_clock) is True
    assert seen == [fake_clock.now()]
    assert _metric("watchdog_housekeeping_job_runs_total", job="unit-ok", outcome="ok") == before + 1
    assert _metric("watchdog_housekeeping_job_last_success_timestamp_seconds", job="unit-ok") == fake_clock.now()


async def test_run_job_logs_and_counts_a_failure_without_raising(fake_clock, caplog):
    async def boom(now: float) -> None:
        raise RuntimeError("disk on fire")

    before = _metric("watchdog_housekeeping_job_failures_total", job="unit-boom")
    assert await run_job(HousekeepingJob("unit-boom", 60, boom), fake_clock) is False
    assert _metric("watchdog_housekeeping_job_failures_total", job="unit-boom") == before + 1
    assert "housekeeping job unit-boom failed" in caplog.text


async def test_retention_job_prunes_older_than_now_minus_retention_and_counts_rows(fake_clock):
    now = fake_clock.now()
    async with SqliteStore(":memory:", clock=fake_clock) as store:
        for age in (10 * 86400, 2 * 86400, 3600):
            await store.append_event(Event(now - age, "e", {"age": age}))
        job = retention_job(store, retention_seconds=86400)
        assert job.name == "retention" and job.schedule == 3600.0 and job.run_at_start
        before = _metric("watchdog_state_pruned_rows_total")
        assert await run_job(job, fake_clock) is True
        assert [e.data["age"] for e in await store.events()] == [3600]
        assert _metric("watchdog_state_pruned_rows_total") == before + 2


def test_retention_must_be_positive(fake_clock):
    with pytest.raises(ValueError, match="retention must be > 0"):
        retention_job(SqliteStore(":memory:", clock=fake_clock), 0)
