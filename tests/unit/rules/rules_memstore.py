"""A small in-memory Store (alert states and timeline only) for the rule manager's unit tests.

The integration-style tests use the real SqliteStore; this one lets unit tests
inject write failures.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Sequence

from watchdog.model import Event
from watchdog.state.base import AlertRecord


class MemoryStore:
    def __init__(self) -> None:
        self.alert_rows: dict[tuple[str, str], AlertRecord] = {}
        self.timeline: list[Event] = []
        self.kv: dict[str, str] = {}
        self.fail_writes = False

    def _maybe_fail(self) -> None:
        if self.fail_writes:
            raise OSError("disk full")

    async def open(self) -> None:
        pass

    async def close(self) -> None:
        pass

    async def append_event(self, event: Event) -> int:
        self._maybe_fail()
        self.timeline.append(replace(event, id=len(self.timeline) + 1))
        return len(self.timeline)

    async def events(self, since: float | None = None, limit: int = 1000, kinds: Sequence[str] | None = None) -> list[Event]:
        out = [e for e in self.timeline if (since is None or e.time >= since) and (not kinds or e.kind in kinds)]
        return out[:limit]

    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        self._maybe_fail()
        for r in records:
            self.alert_rows[(r.rule, r.fingerprint)] = r

    async def delete_alerts(self, keys: Sequence[tuple[str, str]]) -> None:
        self._maybe_fail()
        for k in keys:
            self.alert_rows.pop(tuple(k), None)

    async def load_alerts(self) -> list[AlertRecord]:
        return list(self.alert_rows.values())

    async def kv_get(self, key: str) -> str | None:
        return self.kv.get(key)

    async def kv_set(self, key: str, value: str | None) -> None:
        self._maybe_fail()
        if value is None:
            self.kv.pop(key, None)
        else:
            self.kv[key] = value
