"""The only module that reads wall-clock or monotonic time.

Everything else receives a :class:`Clock` and asks it. Tests and
`watchdog test scenario` pass a :class:`watchdog.testing.fakeclock.FakeClock`
so hours of alert lifecycle run in milliseconds.
"""

from __future__ import annotations

import asyncio
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    def now(self) -> float:
        """Unix time in seconds (float)."""

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (for durations)."""

    async def sleep(self, seconds: float) -> None:
        """Wait for `seconds` of this clock's time."""


class SystemClock:
    """The real clock."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(max(0.0, seconds))


SYSTEM_CLOCK = SystemClock()
