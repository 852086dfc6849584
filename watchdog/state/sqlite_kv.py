"""The key/value table of the SQLite store, and the silences, acks and alert-group states kept in it.

Silences, acks and group states are rows of the kv table under one prefix each: no schema change, and a
prefix range scan (key >= prefix AND key < prefix + U+10FFFF) lists them in key order.
"""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, Mapping

from watchdog.clock import Clock
from watchdog.state import codec
from watchdog.state.base import AckRecord, SilenceRecord
from watchdog.state.sqlite_sql import _KV_UPSERT

_SILENCE_PREFIX = "alerting/silence/"
_ACK_PREFIX = "alerting/ack/"
_GROUP_PREFIX = "alerting/group/"


class KeyValueTables:
    """Mixed into `SqliteStore`."""

    _clock: Clock
    _call: Callable[..., Any]

    async def kv_get(self, key: str) -> str | None:
        def run(conn: sqlite3.Connection) -> str | None:
            row = conn.execute("SELECT value FROM kv WHERE key = ?", (codec.text(key),)).fetchone()
            return None if row is None else row[0]

        return await self._call("kv_get", run)
    async def kv_set(self, key: str, value: str | None) -> None:
        """None deletes."""
        key = codec.text(key)
        if value is None:
            def delete(conn: sqlite3.Connection) -> None:
                conn.execute("DELETE FROM kv WHERE key = ?", (key,))

            await self._call("kv_set", delete)
            return
        params = (key, codec.text(value), self._clock.now())

        def upsert(conn: sqlite3.Connection) -> None:
            conn.execute(_KV_UPSERT, params)

        await self._call("kv_set", upsert)

    async def _kv_put(self, operation: str, key: str, value: Mapping[str, Any]) -> None:
        params = (codec.text(key), codec.dumps(dict(value)), self._clock.now())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_KV_UPSERT, params)

        await self._call(operation, run)

    async def _kv_delete(self, operation: str, key: str) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM kv WHERE key = ?", (codec.text(key),))

        await self._call(operation, run)

    async def _kv_scan(self, operation: str, prefix: str) -> list[tuple[str, Any]]:
        def run(conn: sqlite3.Connection) -> list[tuple[str, Any]]:
            rows = conn.execute("SELECT key, value FROM kv WHERE key >= ? AND key < ? ORDER BY key",
                                (prefix, prefix + "\U0010ffff")).fetchall()
            return [(r[0][len(prefix):], codec.loads(r[1])) for r in rows]

        return await self._call(operation, run)

    async def save_silence(self, silence: SilenceRecord) -> None:
        await self._kv_put("save_silence", _SILENCE_PREFIX + silence.id, {
            "matchers": list(silence.matchers), "starts_at": silence.starts_at, "ends_at": silence.ends_at,
            "created_by": silence.created_by, "comment": silence.comment, "updated_at": silence.updated_at,
        })

    async def load_silences(self) -> list[SilenceRecord]:
        rows = await self._kv_scan("load_silences", _SILENCE_PREFIX)
        out = [SilenceRecord(sid, tuple(d.get("matchers", ())), float(d["starts_at"]), float(d["ends_at"]),
                             d.get("created_by", ""), d.get("comment", ""), float(d.get("updated_at", 0.0)))
               for sid, d in rows]
        return sorted(out, key=lambda r: (r.starts_at, r.id))

    async def delete_silence(self, silence_id: str) -> None:
        await self._kv_delete("delete_silence", _SILENCE_PREFIX + silence_id)

    async def save_ack(self, ack: AckRecord) -> None:
        await self._kv_put("save_ack", _ACK_PREFIX + ack.group_key, {
            "by": ack.by, "comment": ack.comment, "created_at": ack.created_at, "expires_at": ack.expires_at,
        })

    async def delete_ack(self, group_key: str) -> None:
        await self._kv_delete("delete_ack", _ACK_PREFIX + group_key)

    async def load_acks(self) -> list[AckRecord]:
        rows = await self._kv_scan("load_acks", _ACK_PREFIX)
        return [AckRecord(key, d.get("by", ""), d.get("comment", ""), float(d.get("created_at", 0.0)),
                          None if d.get("expires_at") is None else float(d["expires_at"])) for key, d in rows]

    async def save_group_state(self, group_key: str, data: Mapping[str, Any]) -> None:
        await self._kv_put("save_group_state", _GROUP_PREFIX + group_key, data)

    async def delete_group_state(self, group_key: str) -> None:
        await self._kv_delete("delete_group_state", _GROUP_PREFIX + group_key)

    async def load_group_states(self) -> dict[str, dict[str, Any]]:
        return dict(await self._kv_scan("load_group_states", _GROUP_PREFIX))
