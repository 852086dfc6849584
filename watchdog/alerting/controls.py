"""Silences and acknowledgements as the running daemon holds them: in memory, written through to the Store.

Every change is an event on the timeline (`silence.created`, `silence.expired`,
`group.acknowledged`, `group.unacknowledged`). Reads are synchronous so the
remediator and the API can ask without awaiting.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from watchdog.alerting.silences import Silence, SilenceError, SilenceIndex, expire, new_silence
from watchdog.model import Event, Labels
from watchdog.state.base import AckRecord, SilenceRecord, Store

MAX_ACK_COMMENT = 4096


class AckError(ValueError):
    """An acknowledgement that cannot be accepted (message fit for the client)."""


def _to_record(s: Silence) -> SilenceRecord:
    return SilenceRecord(s.id, s.matchers, s.starts_at, s.ends_at, s.created_by, s.comment, s.updated_at)


def _from_record(r: SilenceRecord) -> Silence:
    return Silence(r.id, tuple(r.matchers), r.starts_at, r.ends_at, r.created_by, r.comment, r.updated_at)


class Controls:
    def __init__(self, store: Store) -> None:
        self._store = store
        self.silences = SilenceIndex()
        self.acks: dict[str, AckRecord] = {}

    async def load(self) -> None:
        for record in await self._store.load_silences():
            try:
                self.silences.put(_from_record(record))
            except ValueError:
                continue  # a silence whose matchers no longer parse is ignored rather than fatal
        self.acks = {a.group_key: a for a in await self._store.load_acks()}

    # -- silences -------------------------------------------------------------
    def silenced_by(self, labels: Labels, now: float) -> list[str]:
        return self.silences.silenced_by(labels, now)

    async def add_silence(self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str,
                          comment: str, now: float, silence_id: str | None = None) -> Silence:
        """Create (or, with an existing id, replace) a silence; raises SilenceError."""
        if silence_id is not None and self.silences.get(silence_id) is None:
            raise SilenceError(f"no silence with id {silence_id!r}")
        silence = new_silence(matchers, starts_at, ends_at, created_by, comment, now, silence_id)
        await self._store.save_silence(_to_record(silence))
        self.silences.put(silence)
        await self._event(now, "silence.created", silence)
        return silence

    async def expire_silence(self, silence_id: str, now: float) -> Silence:
        current = self.silences.get(silence_id)
        if current is None:
            raise SilenceError(f"no silence with id {silence_id!r}")
        if current.state(now) == "expired":
            raise SilenceError(f"silence {silence_id!r} has already expired")
        ended = expire(current, now)
        await self._store.save_silence(_to_record(ended))
        self.silences.put(ended)
        await self._event(now, "silence.expired", ended)
        return ended

    async def _event(self, now: float, kind: str, s: Silence) -> None:
        await self._store.append_event(Event(now, kind, {
            "silence_id": s.id, "matchers": list(s.matchers), "starts_at": s.starts_at, "ends_at": s.ends_at,
            "created_by": s.created_by, "comment": s.comment,
        }))

    # -- acknowledgements ---------------------------------------------------------
    def ack_of(self, group_key: str, now: float) -> AckRecord | None:
        ack = self.acks.get(group_key)
        if ack is None or (ack.expires_at is not None and ack.expires_at <= now):
            return None
        return ack

    async def acknowledge(self, group_key: str, by: str, comment: str, now: float, expires_at: float | None,
                          info: dict[str, Any]) -> AckRecord:
        if expires_at is not None and expires_at <= now:
            raise AckError("the acknowledgement would already have expired")
        if len(comment) > MAX_ACK_COMMENT:
            raise AckError(f"comment is longer than {MAX_ACK_COMMENT} characters")
        ack = AckRecord(group_key, str(by)[:256], str(comment), now, expires_at)
        await self._store.save_ack(ack)
        self.acks[group_key] = ack
        await self._store.append_event(Event(now, "group.acknowledged", {
            **info, "by": ack.by, "comment": ack.comment, "expires_at": expires_at}))
        return ack

    async def unacknowledge(self, group_key: str, now: float, info: dict[str, Any], *, reason: str = "unacknowledged",
                            by: str = "") -> bool:
        ack = self.acks.pop(group_key, None)
        if ack is None:
            return False
        await self._store.delete_ack(group_key)
        await self._store.append_event(Event(now, "group.unacknowledged", {**info, "reason": reason, "by": by,
                                                                         "acknowledged_by": ack.by}))
        return True

    def expired_acks(self, now: float) -> list[str]:
        return [k for k, a in self.acks.items() if a.expires_at is not None and a.expires_at <= now]


def replace_ack(ack: AckRecord, **changes: Any) -> AckRecord:
    return dataclasses.replace(ack, **changes)


__all__ = ["AckError", "Controls", "SilenceError"]
