"""Runs every target's probe on its own interval, spread by a stable offset.

One loop over a heap of next-run times (monotonic clock) and one task per
in-flight probe. APScheduler is not used here: it reads the wall clock and
costs too much per job for thousands of targets.

Planned run times sit on a per-target grid `anchor + offset + k * interval`,
where `offset` is a hash of the name, so N targets spread over the interval
and a target keeps its phase across reloads. A run that comes due while the
previous run of the same target is still in flight is skipped and counted.

`probe_now(name)` runs a target's probe at once, outside the grid (after a
remediation, so its verification need not wait up to an interval). It never
overlaps a run of the same target: asked while one is in flight, it runs as
soon as that one ends. It counts as the target's run: results, health and
metrics as usual, and a grid run that comes due while it is in flight is
skipped without counting as a skip.
"""

from __future__ import annotations

import asyncio
import hashlib
import heapq
import itertools
import logging
import math
from dataclasses import dataclass
from typing import Any, Callable, Sequence

from watchdog.clock import Clock
from watchdog.probes import metrics
from watchdog.probes.base import Probe, ProbeResult, TargetBase, one_line_reason
from watchdog.probes.registry import PROBES

log = logging.getLogger(__name__)

Sink = Callable[[str, ProbeResult, float], None]


@dataclass(frozen=True, slots=True)
class TargetStatus:
    name: str
    type: str
    instance: str
    labels: dict[str, str]
    health: str  # "up" | "down" | "unknown"
    last_probe: float | None  # unix time the last probe started
    last_duration: float | None
    last_error: str
    interval: float = 0.0
    timeout: float = 0.0
    skipped: int = 0


def stable_offset(name: str, interval: float) -> float:
    """Fraction of the interval derived from the name: the same in every process and run."""
    h = int.from_bytes(hashlib.sha256(name.encode()).digest()[:8], "big")
    return (h / 2**64) * interval


class _Entry:
    """A scheduled target: its resolved config, probe, schedule and last outcome."""

    __slots__ = ("target", "probe", "interval", "offset", "next_run", "task", "health", "last_probe", "last_duration",
                 "last_error", "skipped", "removed", "duration_metric", "ok_metric", "fail_metric", "skip_metric", "generation",
                 "on_demand", "again")

    def __init__(self, target: TargetBase, probe: Probe, interval: float) -> None:
        self.target = target
        self.probe = probe
        self.interval = interval
        self.offset = stable_offset(target.name, interval)
        self.next_run = 0.0
        self.task: asyncio.Task[None] | None = None
        self.health = "unknown"
        self.last_probe: float | None = None
        self.last_duration: float | None = None
        self.last_error = ""
        self.skipped = 0
        self.removed = False
        self.generation = 0
        self.on_demand = False   # the run in flight was asked for by probe_now
        self.again = False       # probe_now asked while a run was in flight: run once more when it ends
        # bound children once: label lookups per probe would cost more than the probe's bookkeeping
        self.duration_metric = metrics.PROBE_DURATION.labels(target.type)
        self.ok_metric = metrics.PROBES.labels(target.type, "success")
        self.fail_metric = metrics.PROBES.labels(target.type, "failure")
        self.skip_metric = metrics.PROBES_SKIPPED.labels(target.name)


class ProbeScheduler:
    def __init__(
        self,
        targets: Sequence[TargetBase],
        *,
        clock: Clock,
        sink: Sink,
        default_interval: float = 10.0,
        default_timeout: float = 10.0,
        session: Any = None,
        probe_factories: dict[str, Any] | None = None,
        lag_observer: Callable[[float], None] | None = None,
    ) -> None:
        self.clock = clock
        self.sink = sink
        self.default_interval = default_interval
        self.default_timeout = default_timeout
        self._session = session  # shared aiohttp session; created in run() when not given
        self._own_session = False
        self._factories = probe_factories or PROBES
        self._lag_observer = lag_observer  # raw lags for benchmarks; the metric keeps only buckets
        self._entries: dict[str, _Entry] = {}
        self._heap: list[tuple[float, int, str, int]] = []
        self._seq = itertools.count()
        self._anchor: float | None = None
        self._sleeper: asyncio.Task[None] | None = None
        self._sleep_until = math.inf
        self._closers: set[asyncio.Future[None]] = set()
        self._pending = list(targets)
        self._first_round: set[str] = {t.name for t in targets}
        self.first_round_scheduled = False  # every configured target has a planned first run
        self.first_round_done = asyncio.Event()  # every initial target has finished one probe
        if not self._first_round:
            self.first_round_done.set()

    # -- configuration --------------------------------------------------
    def _resolve(self, target: TargetBase) -> TargetBase:
        """The target with interval and timeout filled from the global defaults."""
        interval = target.effective_interval(self.default_interval)
        timeout = target.effective_timeout(self.default_interval, self.default_timeout)
        if target.interval == interval and target.timeout == timeout:
            return target
        return target.model_copy(update={"interval": interval, "timeout": timeout})

    def _make_entry(self, target: TargetBase) -> _Entry:
        resolved = self._resolve(target)
        probe = self._factories[resolved.type](resolved, clock=self.clock, session=self._session)
        assert resolved.interval is not None
        entry = _Entry(resolved, probe, resolved.interval)
        entry.generation = next(self._seq)  # unique: heap items of a replaced entry are recognised as stale
        return entry

    def _schedule_first(self, entry: _Entry, now: float) -> None:
        """The next point of the target's grid at or after `now`."""
        assert self._anchor is not None
        base = self._anchor + entry.offset
        k = max(0, math.ceil((now - base) / entry.interval))
        self._push(entry, base + k * entry.interval)

    def _push(self, entry: _Entry, when: float) -> None:
        entry.next_run = when
        heapq.heappush(self._heap, (when, next(self._seq), entry.target.name, entry.generation))
        if when < self._sleep_until and self._sleeper is not None and not self._sleeper.done():
            self._sleeper.cancel()  # wake the loop early for a run sooner than it planned

    def update_targets(self, targets: Sequence[TargetBase]) -> None:
        """Reload: unchanged targets keep their schedule and state, new ones start, removed ones stop."""
        if self._anchor is None:
            self._pending = list(targets)
            self._first_round = {t.name for t in targets}
            return
        now = self.clock.monotonic()
        wanted = {t.name: t for t in targets}
        for name, entry in list(self._entries.items()):
            new = wanted.get(name)
            if new is not None and self._resolve(new) == entry.target:
                continue
            self._stop(entry)
            del self._entries[name]
        for name, target in wanted.items():
            if name in self._entries:
                continue
            entry = self._make_entry(target)
            self._entries[name] = entry
            self._schedule_first(entry, now)
        self._first_round &= set(self._entries)
        if not self._first_round:
            self.first_round_done.set()

    def _stop(self, entry: _Entry) -> None:
        entry.removed = True
        if entry.task is not None and not entry.task.done():
            entry.task.cancel()
        # close after any in-flight run has unwound; keep a reference so the task is not collected
        closer = asyncio.ensure_future(self._close_probe(entry))
        self._closers.add(closer)
        closer.add_done_callback(self._closers.discard)

    async def _close_probe(self, entry: _Entry) -> None:
        if entry.task is not None:
            await asyncio.gather(entry.task, return_exceptions=True)
        try:
            await entry.probe.close()
        except Exception:  # a probe's close failing must not break reload
            log.exception("closing probe %s failed", entry.target.name)

    # -- running --------------------------------------------------------
    async def run(self) -> None:
        """Runs until cancelled."""
        if self._session is None:
            from watchdog.probes.http import new_session

            self._session = new_session()
            self._own_session = True
        self._anchor = self.clock.monotonic()
        for target in self._pending:
            entry = self._make_entry(target)
            self._entries[target.name] = entry
            self._schedule_first(entry, self._anchor)
        self._pending = []
        self.first_round_scheduled = True
        try:
            while True:
                await self._run_due()
                await self._sleep_until_next()
        finally:
            self._sleep_until = math.inf

    async def _sleep_until_next(self) -> None:
        delay = self._heap[0][0] - self.clock.monotonic() if self._heap else 3600.0
        if delay <= 0:
            await asyncio.sleep(0)
            return
        self._sleep_until = self.clock.monotonic() + delay
        self._sleeper = asyncio.ensure_future(self.clock.sleep(delay))
        try:
            # asyncio.wait returns when the sleeper is cancelled (early wake) but still
            # raises CancelledError when run() itself is cancelled
            await asyncio.wait((self._sleeper,))
        finally:
            if not self._sleeper.done():
                self._sleeper.cancel()
            self._sleeper = None
            self._sleep_until = math.inf

    async def _run_due(self) -> None:
        now = self.clock.monotonic()
        heap = self._heap
        while heap and heap[0][0] <= now:
            planned, _, name, generation = heapq.heappop(heap)
            entry = self._entries.get(name)
            if entry is None or entry.generation != generation or entry.removed:
                continue  # a stale heap item of a removed or replaced target
            nxt = planned + entry.interval
            if nxt <= now:  # the loop fell behind by more than an interval: skip to the grid
                missed = math.floor((now - planned) / entry.interval)
                entry.skipped += missed
                entry.skip_metric.inc(missed)
                nxt = planned + (missed + 1) * entry.interval
            self._push(entry, nxt)
            if entry.task is not None and not entry.task.done():
                if entry.on_demand:   # an on-demand run in flight is this run, not an overlap (once)
                    entry.on_demand = False
                else:
                    entry.skipped += 1
                    entry.skip_metric.inc()
                continue
            lag = now - planned
            metrics.SCHEDULE_LAG.observe(lag)
            if self._lag_observer is not None:
                self._lag_observer(lag)
            self._start(entry, on_demand=False)

    def _start(self, entry: _Entry, *, on_demand: bool) -> None:
        entry.on_demand = on_demand
        entry.task = asyncio.create_task(self._probe_once(entry), name=f"probe:{entry.target.name}")

    def probe_now(self, name: str) -> bool:
        """Probe target `name` at once (or right after its run in flight); False when there is no such target."""
        entry = self._entries.get(name)
        if entry is None or entry.removed:
            return False
        if entry.task is not None and not entry.task.done():
            # that run started before the caller asked: its answer is about an earlier moment
            entry.again = True
            return True
        self._start(entry, on_demand=True)
        return True

    async def _probe_once(self, entry: _Entry) -> None:
        t = self.clock.now()
        try:
            result = await entry.probe.probe()
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a probe bug is that target's failure, never the scheduler's
            log.exception("probe %s raised", entry.target.name)
            result = ProbeResult(False, 0.0, f"probe error: {type(e).__name__}: {e}", ())
        if entry.removed:
            return
        if entry.again:   # probe_now came while this run was in flight: its run starts now, after this one
            entry.again = False
            self._start(entry, on_demand=True)
        entry.duration_metric.observe(result.duration)
        (entry.ok_metric if result.success else entry.fail_metric).inc()
        previous = entry.health
        entry.health = "up" if result.success else "down"
        entry.last_probe = t
        entry.last_duration = result.duration
        entry.last_error = reason = one_line_reason(result.reason)  # any probe type: one bounded line
        if previous != entry.health:  # log on state change, not on every tick
            log.info("target %s is %s%s", entry.target.name, entry.health, f": {reason}" if reason else "")
        try:
            self.sink(entry.target.name, result, t)
        except Exception:
            log.exception("sink failed for target %s", entry.target.name)
        if self._first_round and entry.target.name in self._first_round:
            self._first_round.discard(entry.target.name)
            if not self._first_round:
                self.first_round_done.set()

    # -- reading --------------------------------------------------------
    def status(self) -> list[TargetStatus]:
        out = []
        for entry in sorted(self._entries.values(), key=lambda e: e.target.name):
            t = entry.target
            out.append(
                TargetStatus(
                    name=t.name,
                    type=t.type,
                    instance=t.instance,
                    labels=t.target_labels(),
                    health=entry.health,
                    last_probe=entry.last_probe,
                    last_duration=entry.last_duration,
                    last_error=entry.last_error,
                    interval=entry.interval,
                    timeout=t.timeout or 0.0,
                    skipped=entry.skipped,
                )
            )
        if not out and self._pending:
            for t in self._pending:
                r = self._resolve(t)
                out.append(TargetStatus(t.name, t.type, t.instance, t.target_labels(), "unknown", None, None, "",
                                        r.interval or 0.0, r.timeout or 0.0))
        return out

    def next_runs(self) -> dict[str, float]:
        """Planned monotonic time of each target's next run (for tests and the status page)."""
        return {name: e.next_run for name, e in self._entries.items()}

    async def close(self) -> None:
        entries = list(self._entries.values())
        self._entries.clear()
        for entry in entries:
            self._stop(entry)
        if self._closers:
            await asyncio.gather(*self._closers, return_exceptions=True)
        if self._own_session and self._session is not None:
            await self._session.close()
            self._session = None
            self._own_session = False
