"""A clock that only moves when told to."""

from __future__ import annotations

import asyncio
import heapq
import itertools


class FakeClock:
    """Deterministic clock for tests and scenarios.

    `sleep()` parks the caller until `advance()` moves time past its deadline,
    so async code driven by this clock runs without real waiting.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = float(start)
        self._mono = 0.0
        self._sleepers: list[tuple[float, int, asyncio.Future[None]]] = []
        self._seq = itertools.count()

    def now(self) -> float:
        return self._now

    def monotonic(self) -> float:
        return self._mono

    def set(self, t: float) -> None:
        if t < self._now:
            raise ValueError("FakeClock cannot go backwards")
        self._mono += t - self._now
        self._now = t
        self._wake()

    def advance(self, seconds: float) -> None:
        self.set(self._now + seconds)

    async def sleep(self, seconds: float) -> None:
        if seconds <= 0:
            await asyncio.sleep(0)
            return
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        heapq.heappush(self._sleepers, (self._mono + seconds, next(self._seq), fut))
        await fut

    async def run_for(self, seconds: float, step: float = 1.0) -> None:
        """Advance in `step`s, letting woken tasks run between steps."""
        end = self._now + seconds
        while self._now < end:
            self.advance(min(step, end - self._now))
            for _ in range(5):
                await asyncio.sleep(0)

    def _wake(self) -> None:
        while self._sleepers and self._sleepers[0][0] <= self._mono:
            _, _, fut = heapq.heappop(self._sleepers)
            if not fut.done():
                fut.set_result(None)
