"""Silences: matchers with a start, an end, a creator and a comment. Pure model and checks.

A silence mutes the notifications of alerts whose labels match all its
matchers while `starts_at <= now < ends_at` (Alertmanager's semantics). It
is refused when it ends before it starts, when it already ended, or when its
matchers would match every alert (Alertmanager requires at least one matcher
that does not match the empty string).
"""

from __future__ import annotations

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any, Iterable, Mapping, Sequence

from watchdog.alerting.matchers import Matcher, matches_all, parse_matchers
from watchdog.model import Labels

MAX_COMMENT = 4096
MAX_MATCHERS = 64


class SilenceError(ValueError):
    """A silence that cannot be accepted; the message is fit for the API client."""


@dataclass(frozen=True, slots=True)
class Silence:
    id: str
    matchers: tuple[str, ...]          # as the operator wrote them (one matcher each)
    starts_at: float
    ends_at: float
    created_by: str
    comment: str
    updated_at: float

    def parsed(self) -> list[Matcher]:
        return parse_matchers(list(self.matchers))

    def state(self, now: float) -> str:
        if now < self.starts_at:
            return "pending"
        if now < self.ends_at:
            return "active"
        return "expired"

    def is_active(self, now: float) -> bool:
        return self.starts_at <= now < self.ends_at

    def to_json(self, now: float) -> dict[str, Any]:
        return {
            "id": self.id, "matchers": list(self.matchers), "startsAt": self.starts_at, "endsAt": self.ends_at,
            "createdBy": self.created_by, "comment": self.comment, "updatedAt": self.updated_at,
            "status": {"state": self.state(now)},
        }

    def to_record(self) -> dict[str, Any]:
        return dataclasses.asdict(self) | {"matchers": list(self.matchers)}

    @classmethod
    def from_record(cls, d: Mapping[str, Any]) -> "Silence":
        return cls(id=str(d["id"]), matchers=tuple(d["matchers"]), starts_at=float(d["starts_at"]),
                   ends_at=float(d["ends_at"]), created_by=str(d.get("created_by", "")),
                   comment=str(d.get("comment", "")), updated_at=float(d.get("updated_at", 0.0)))


def new_silence(matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str, comment: str,
                now: float, silence_id: str | None = None) -> Silence:
    """A checked silence; raises SilenceError with a clear message."""
    if not isinstance(matchers, (list, tuple)) or not matchers:
        raise SilenceError("a silence needs at least one matcher")
    if len(matchers) > MAX_MATCHERS:
        raise SilenceError(f"a silence may have at most {MAX_MATCHERS} matchers")
    try:
        parsed = parse_matchers([str(m) for m in matchers])
    except ValueError as e:
        raise SilenceError(str(e)) from None
    if all(m.matches({}) for m in parsed):
        raise SilenceError("the matchers would match every alert: at least one matcher must not match an empty label value")
    if not ends_at > starts_at:
        raise SilenceError("the silence must end after it starts (endsAt > startsAt)")
    if ends_at <= now:
        raise SilenceError("the silence would already have ended (endsAt is in the past)")
    if len(comment) > MAX_COMMENT:
        raise SilenceError(f"comment is longer than {MAX_COMMENT} characters")
    return Silence(
        id=silence_id or str(uuid.uuid4()), matchers=tuple(str(m) for m in parsed),
        starts_at=float(starts_at), ends_at=float(ends_at), created_by=str(created_by)[:256],
        comment=str(comment), updated_at=now,
    )


def expire(silence: Silence, now: float) -> Silence:
    """End a silence now (a pending one ends before it starts, which keeps it inert)."""
    end = max(min(silence.ends_at, now), silence.starts_at) if silence.starts_at <= now else silence.starts_at
    return dataclasses.replace(silence, ends_at=end, updated_at=now)


class SilenceIndex:
    """The current silences with their parsed matchers, for fast checks."""

    def __init__(self, silences: Iterable[Silence] = ()) -> None:
        self._items: dict[str, tuple[Silence, list[Matcher]]] = {}
        for s in silences:
            self.put(s)

    def put(self, silence: Silence) -> None:
        self._items[silence.id] = (silence, silence.parsed())

    def get(self, silence_id: str) -> Silence | None:
        item = self._items.get(silence_id)
        return item[0] if item else None

    def all(self) -> list[Silence]:
        return sorted((s for s, _ in self._items.values()), key=lambda s: (s.starts_at, s.id))

    def silenced_by(self, labels: Labels | Mapping[str, str], now: float) -> list[str]:
        """IDs of the active silences that match `labels`."""
        return sorted(s.id for s, ms in self._items.values() if s.is_active(now) and matches_all(ms, labels))

    def forget_expired(self, before: float) -> list[str]:
        gone = [sid for sid, (s, _) in self._items.items() if s.ends_at < before]
        for sid in gone:
            del self._items[sid]
        return gone
