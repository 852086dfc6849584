"""Periodic housekeeping (retention, snapshots, refits) on APScheduler 3.

APScheduler reads the wall clock itself, so it stays at this edge: it only
decides *when*; each job receives `clock.now()` from the injected Clock and
does its work through plain functions of that time. A job that raises is
logged and counted and the scheduler carries on; a job never overlaps itself.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import timezone
from typing import Awaitable, Callable, Sequence

from apscheduler.schedulers.asyncio import AsyncIOScheduler
from apscheduler.triggers.base import BaseTrigger
from apscheduler.triggers.cron import CronTrigger
from apscheduler.triggers.interval import IntervalTrigger
from prometheus_client import Counter, Gauge

from watchdog.clock import Clock
from watchdog.state.base import Store
from watchdog.state.metrics import PRUNED_ROWS

log = logging.getLogger(__name__)

# Housekeeping is one module, so its metrics live here rather than in a metrics.py.
JOB_RUNS = Counter("watchdog_housekeeping_job_runs_total", "Housekeeping job runs, by outcome.", ["job", "outcome"])
JOB_FAILURES = Counter("watchdog_housekeeping_job_failures_total", "Housekeeping job runs that raised.", ["job"])
JOB_LAST_SUCCESS = Gauge(
    "watchdog_housekeeping_job_last_success_timestamp_seconds", "When each job last finished without error.", ["job"]
)

JobFunction = Callable[[float], Awaitable[object]]


def _trigger(schedule: float | str) -> BaseTrigger:
    if isinstance(schedule, str):
        return CronTrigger.from_crontab(schedule, timezone=timezone.utc)
    return IntervalTrigger(seconds=float(schedule), timezone=timezone.utc)


@dataclass(frozen=True, slots=True)
class HousekeepingJob:
    """`schedule` is seconds between runs, or a 5-field crontab expression evaluated in UTC."""

    name: str
    schedule: float | str
    run: JobFunction = field(repr=False)
    run_at_start: bool = False     # also run once right after start() (e.g. retention after a restart)

    def __post_init__(self) -> None:
        if not self.name:
            raise ValueError("housekeeping job needs a name")
        if isinstance(self.schedule, bool) or not isinstance(self.schedule, (int, float, str)):
            raise ValueError(f"housekeeping job {self.name!r}: schedule must be seconds or a crontab expression")
        if isinstance(self.schedule, str):
            try:
                _trigger(self.schedule)
            except ValueError as e:
                raise ValueError(f"housekeeping job {self.name!r}: bad crontab expression {self.schedule!r}: {e}") from e
        elif not self.schedule > 0:
            raise ValueError(f"housekeeping job {self.name!r}: interval must be > 0 seconds, got {self.schedule!r}")


async def run_job(job: HousekeepingJob, clock: Clock) -> bool:
    """Run one job once with `clock.now()`; True on success. Never raises (except cancellation)."""
    now = clock.now()
    try:
        await job.run(now)
    except asyncio.CancelledError:
        raise
    except Exception:
        JOB_FAILURES.labels(job.name).inc()
        JOB_RUNS.labels(job.name, "failed").inc()
        log.error("housekeeping job %s failed", job.name, exc_info=True)
        return False
    JOB_RUNS.labels(job.name, "ok").inc()
    JOB_LAST_SUCCESS.labels(job.name).set(now)
    return True


class Housekeeping:
    """Runs HousekeepingJobs on an AsyncIOScheduler bound to the running loop."""

    def __init__(self, clock: Clock, *, jobs: Sequence[HousekeepingJob]) -> None:
        names = [j.name for j in jobs]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"duplicate housekeeping job names: {', '.join(duplicates)}")
        self._clock = clock
        self._jobs = list(jobs)
        self._scheduler: AsyncIOScheduler | None = None
        self._in_flight: dict[str, asyncio.Task[bool]] = {}

    @property
    def running(self) -> bool:
        return self._scheduler is not None

    @property
    def jobs(self) -> list[HousekeepingJob]:
        return list(self._jobs)

    def start(self) -> None:
        """Call from inside the running event loop."""
        if self._scheduler is not None:
            return
        scheduler = AsyncIOScheduler(
            timezone=timezone.utc,
            # One run per job at a time; a run missed while the loop was busy
            # happens once, late, rather than being dropped or repeated.
            job_defaults={"coalesce": True, "max_instances": 1, "misfire_grace_time": None},
        )
        for job in self._jobs:
            scheduler.add_job(self._scheduled, trigger=_trigger(job.schedule), args=[job], id=job.name, name=job.name)
        scheduler.start()
        self._scheduler = scheduler
        for job in self._jobs:
            if job.run_at_start:
                self._launch(job)

    async def run_now(self, name: str) -> bool:
        """Run the named job once now (an operator's "prune now"); False if it failed or was already running."""
        job = next((j for j in self._jobs if j.name == name), None)
        if job is None:
            raise KeyError(f"no housekeeping job named {name!r}")
        if name in self._in_flight:
            return False
        return await self._launch(job)

    async def shutdown(self, timeout: float = 5.0) -> None:
        """Stop scheduling, let running jobs finish for up to `timeout` seconds, cancel the rest."""
        scheduler, self._scheduler = self._scheduler, None
        if scheduler is None:
            return
        scheduler.pause()
        tasks = list(self._in_flight.values())
        if tasks:
            _, late = await asyncio.wait(tasks, timeout=timeout)
            for task in late:
                log.warning("housekeeping job %s cut off at shutdown", task.get_name())
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        scheduler.shutdown(wait=False)
        await asyncio.sleep(0)  # AsyncIOScheduler completes its shutdown in a loop callback

    # -- internals ------------------------------------------------------------

    async def _scheduled(self, job: HousekeepingJob) -> None:
        if job.name in self._in_flight:  # a run_at_start or run_now run is still going
            JOB_RUNS.labels(job.name, "skipped").inc()
            return
        await self._launch(job)

    def _launch(self, job: HousekeepingJob) -> asyncio.Task[bool]:
        task = asyncio.get_running_loop().create_task(run_job(job, self._clock), name=f"housekeeping:{job.name}")
        self._in_flight[job.name] = task
        task.add_done_callback(self._forget)
        return task

    def _forget(self, task: asyncio.Task[bool]) -> None:
        name = task.get_name().removeprefix("housekeeping:")
        if self._in_flight.get(name) is task:
            del self._in_flight[name]


def retention_job(store: Store, retention_seconds: float, *, schedule: float | str = 3600.0) -> HousekeepingJob:
    """Hourly (and once at start): prune the timeline and histories older than `retention_seconds`."""
    if not retention_seconds > 0:
        raise ValueError(f"retention must be > 0 seconds, got {retention_seconds!r}")

    async def prune(now: float) -> None:
        removed = await store.prune(now - retention_seconds)
        PRUNED_ROWS.inc(removed)
        if removed:
            log.info("retention pruned %d rows older than %.0f s", removed, retention_seconds)

    return HousekeepingJob("retention", schedule, prune, run_at_start=True)
