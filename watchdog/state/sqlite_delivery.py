"""The notification log and the outbox tables of the SQLite store."""

from __future__ import annotations

import sqlite3
from typing import Any, Callable, TypeVar

from watchdog.state import codec
from watchdog.state.base import NotificationRecord, OutboxItem, StoreError
from watchdog.state.sqlite_sql import _NOTIFICATION_UPSERT, _OUTBOX_INSERT, _OUTBOX_SELECT, _OUTBOX_UPDATE

T = TypeVar("T")


class DeliveryTables:
    """Mixed into `SqliteStore`: what the notification pipeline keeps."""

    _path: str
    _call: Callable[..., Any]

    async def log_notification(self, record: NotificationRecord) -> None:
        """Keeps the latest record per (group_key, receiver), as Alertmanager's nflog does."""
        row = codec.notification_row(record)

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_NOTIFICATION_UPSERT, row)

        await self._call("log_notification", run)

    async def last_notification(self, group_key: str, receiver: str) -> NotificationRecord | None:
        sql = f"SELECT {', '.join(codec.NOTIFICATION_COLUMNS)} FROM notification_log WHERE group_key = ? AND receiver = ?"
        params = (codec.text(group_key), codec.text(receiver))

        def run(conn: sqlite3.Connection) -> NotificationRecord | None:
            row = conn.execute(sql, params).fetchone()
            return None if row is None else codec.row_notification(row)

        return await self._call("last_notification", run)

    async def outbox_put(self, item: OutboxItem) -> int:
        """Insert; sets and returns item.id."""
        row = codec.outbox_row(item)

        def insert(conn: sqlite3.Connection) -> int:
            return int(conn.execute(_OUTBOX_INSERT, row).lastrowid)

        item.id = await self._call("outbox_put", insert)
        return item.id

    async def outbox_due(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Items with next_attempt_at <= now, oldest (created first) first."""
        if limit <= 0:
            return []
        sql = f"{_OUTBOX_SELECT} WHERE next_attempt_at <= ? ORDER BY created_at, id LIMIT ?"

        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            return [codec.row_outbox(r) for r in conn.execute(sql, (float(now), int(limit))).fetchall()]

        return await self._call("outbox_due", run)

    async def outbox_all(self) -> list[OutboxItem]:
        def run(conn: sqlite3.Connection) -> list[OutboxItem]:
            return [codec.row_outbox(r) for r in conn.execute(f"{_OUTBOX_SELECT} ORDER BY id").fetchall()]

        return await self._call("outbox_all", run)

    async def outbox_update(self, item: OutboxItem) -> None:
        """Updates by id; an item already deleted (delivered meanwhile) is left deleted."""
        if item.id is None:
            raise StoreError(f"{self._path}: outbox_update needs an item that was put (item.id is None)")
        row = (*codec.outbox_row(item), int(item.id))

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(_OUTBOX_UPDATE, row)

        await self._call("outbox_update", run)

    async def outbox_delete(self, item_id: int) -> None:
        def run(conn: sqlite3.Connection) -> None:
            conn.execute("DELETE FROM outbox WHERE id = ?", (int(item_id),))

        await self._call("outbox_delete", run)
