"""SQLite (WAL) implementation of the Store protocol: the embedded default.

sqlite3 blocks, so one dedicated worker thread owns the connection and runs
every statement; the event loop only awaits. One thread also serialises
writes, which is what SQLite wants anyway. Each call is a few small
statements; large deletes (retention) run in batches so other calls interleave.

`SqliteStore(":memory:")` is a real store without a file, for scenarios and
tests that need no persistence.

The SQL lives in sqlite_sql.py, opening and migrating in sqlite_schema.py,
the notification log and outbox in sqlite_delivery.py, the key/value table
(silences, acks, group states) in sqlite_kv.py.
"""

from __future__ import annotations

import asyncio
import logging
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Callable, Sequence, TypeVar

from watchdog.clock import SYSTEM_CLOCK, Clock
from watchdog.model import Event
from watchdog.state import codec
from watchdog.state.base import AlertRecord, ChangeRecord, RemediationRun, StoreError
from watchdog.state.metrics import ERRORS, INTERRUPTED_RUNS, QUERY_DURATION
from watchdog.state.sqlite_delivery import DeliveryTables
from watchdog.state.sqlite_kv import KeyValueTables
from watchdog.state.sqlite_schema import (
    CRASH_INTERRUPTED_STATUSES,
    INTERRUPTED_NOTE,
    MEMORY,
    SQLITE_HEADER,
    connect,
    mark_interrupted,
    migrate,
)
from watchdog.state.sqlite_sql import (
    _ALERT_UPSERT,
    _FINISHED,
    _PRUNE_EVENTS,
    _PRUNE_NOTIFICATIONS,
    _PRUNE_RUNS,
    _RUN_INSERT,
    _RUN_SELECT,
    _RUN_UPDATE,
    _placeholders,
    _transaction,
)

log = logging.getLogger(__name__)

# names other modules and tests import from here
__all__ = ["CRASH_INTERRUPTED_STATUSES", "INTERRUPTED_NOTE", "MEMORY", "SQLITE_HEADER", "SqliteStore", "mark_interrupted"]

T = TypeVar("T")


class SqliteStore(DeliveryTables, KeyValueTables):
    """The Store protocol on one SQLite file (see docs/state.md for the schema)."""

    def __init__(self, path: str, *, clock: Clock | None = None, busy_timeout_ms: int = 5000, prune_batch: int = 5000) -> None:
        self._path = path
        self._clock = clock or SYSTEM_CLOCK
        self._busy_timeout_ms = int(busy_timeout_ms)
        self._prune_batch = max(1, int(prune_batch))
        self._executor: ThreadPoolExecutor | None = None
        self._conn: sqlite3.Connection | None = None
        self.schema_version = 0
        self.interrupted_run_ids: list[int] = []

    @property
    def path(self) -> str:
        return self._path

    async def __aenter__(self) -> "SqliteStore":
        await self.open()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- worker plumbing --------------------------------------------------------

    def _timed(self, operation: str, fn: Callable[..., T], *args: Any) -> T:
        """Runs on the worker thread."""
        conn = self._conn
        if conn is None:
            raise StoreError(f"{self._path}: store is not open")
        started = self._clock.monotonic()
        try:
            return fn(conn, *args)
        except (sqlite3.Error, UnicodeError, OverflowError) as e:
            ERRORS.labels(operation).inc()
            # sqlite3 messages name tables and constraints, never the bound values.
            raise StoreError(f"{self._path}: {operation} failed: {e}") from e
        finally:
            QUERY_DURATION.labels(operation).observe(max(0.0, self._clock.monotonic() - started))

    async def _call(self, operation: str, fn: Callable[..., T], *args: Any) -> T:
        if self._executor is None:
            ERRORS.labels(operation).inc()
            raise StoreError(f"{self._path}: store is not open")
        return await asyncio.get_running_loop().run_in_executor(self._executor, self._timed, operation, fn, *args)

    # -- lifecycle ------------------------------------------------------------

    async def open(self) -> None:
        """Create or migrate the schema, then mark runs a crash left unfinished as interrupted."""
        if self._executor is not None:
            return
        executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="watchdog-sqlite")
        now = self._clock.now()
        try:
            await asyncio.get_running_loop().run_in_executor(executor, self._connect)
        except BaseException:
            executor.shutdown(wait=False)
            raise
        self._executor = executor
        try:
            self.schema_version = await self._call("migrate", migrate, now, self._path)
            self.interrupted_run_ids = await self._call("mark_interrupted", mark_interrupted, now)
        except BaseException:
            await self.close()
            raise
        if self.interrupted_run_ids:
            INTERRUPTED_RUNS.inc(len(self.interrupted_run_ids))
            log.warning("marked %d unfinished remediation run(s) interrupted", len(self.interrupted_run_ids),
                        extra={"run_ids": self.interrupted_run_ids})

    def _connect(self) -> None:
        """Worker thread: open the connection and set it up."""
        self._conn = connect(self._path, self._busy_timeout_ms)

    async def close(self) -> None:
        executor, self._executor = self._executor, None
        if executor is None:
            return

        def close_connection() -> None:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

        try:
            # Queued behind every call already submitted, so none is cut off.
            await asyncio.get_running_loop().run_in_executor(executor, close_connection)
        finally:
            executor.shutdown(wait=True)

    # -- timeline -------------------------------------------------------------

    async def append_event(self, event: Event) -> int:
        row = codec.event_row(event)

        def run(conn: sqlite3.Connection) -> int:
            return int(conn.execute("INSERT INTO events (time, kind, data) VALUES (?, ?, ?)", row).lastrowid)

        return await self._call("append_event", run)

    async def events(self, since: float | None = None, limit: int = 1000, kinds: Sequence[str] | None = None) -> list[Event]:
        """Oldest first, `time >= since`; `kinds` None or empty means every kind."""
        if limit <= 0:
            return []
        where: list[str] = []
        params: list[Any] = []
        if since is not None:
            where.append("time >= ?")
            params.append(float(since))
        if kinds:
            kind_list = [codec.text(k) for k in kinds]
            where.append(f"kind IN ({_placeholders(len(kind_list))})")
            params.extend(kind_list)
        sql = "SELECT id, time, kind, data FROM events"
        if where:
            sql += " WHERE " + " AND ".join(where)
        sql += " ORDER BY time, id LIMIT ?"
        params.append(int(limit))

        def run(conn: sqlite3.Connection) -> list[Event]:
            return [codec.row_event(r) for r in conn.execute(sql, params).fetchall()]

        return await self._call("events", run)

    # -- alert states -----------------------------------------------------------

    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        rows = [codec.alert_row(r) for r in records]
        if not rows:
            return

        def run(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.executemany(_ALERT_UPSERT, rows)

        await self._call("save_alerts", run)

    async def delete_alerts(self, keys: Sequence[tuple[str, str]]) -> None:
        rows = [(codec.text(rule), codec.text(fp)) for rule, fp in keys]
        if not rows:
            return

        def run(conn: sqlite3.Connection) -> None:
            with _transaction(conn):
                conn.executemany("DELETE FROM alerts WHERE rule = ? AND fingerprint = ?", rows)

        await self._call("delete_alerts", run)

    async def load_alerts(self) -> list[AlertRecord]:
        sql = f"SELECT {', '.join(codec.ALERT_COLUMNS)} FROM alerts ORDER BY rule, fingerprint"

        def run(conn: sqlite3.Connection) -> list[AlertRecord]:
            return [codec.row_alert(r) for r in conn.execute(sql).fetchall()]

        return await self._call("load_alerts", run)

    # -- remediation runs -------------------------------------------------------

    async def add_run(self, run: RemediationRun) -> int:
        row = codec.run_row(run)

        def insert(conn: sqlite3.Connection) -> int:
            return int(conn.execute(_RUN_INSERT, row).lastrowid)

        run.id = await self._call("add_run", insert)
        return run.id

    async def update_run(self, run: RemediationRun) -> None:
        """Raises StoreError when the run was never added (or was pruned)."""
        if run.id is None:
            raise StoreError(f"{self._path}: update_run needs a run that was added (run.id is None)")
        row = (*codec.run_row(run), int(run.id))

        def update(conn: sqlite3.Connection) -> int:
            return conn.execute(_RUN_UPDATE, row).rowcount

        if await self._call("update_run", update) == 0:
            raise StoreError(f"{self._path}: no remediation run with id {run.id}")

    async def runs(self, spec: str | None = None, since: float | None = None, limit: int = 500) -> list[RemediationRun]:
        """Newest first (by created_at, then id)."""
        if limit <= 0:
            return []
        where: list[str] = []
        params: list[Any] = []
        if spec is not None:
            where.append("spec = ?")
            params.append(codec.text(spec))
        if since is not None:
            where.append("created_at >= ?")
            params.append(float(since))
        sql = _RUN_SELECT + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY created_at DESC, id DESC LIMIT ?"
        params.append(int(limit))

        def run(conn: sqlite3.Connection) -> list[RemediationRun]:
            return [codec.row_run(r) for r in conn.execute(sql, params).fetchall()]

        return await self._call("runs", run)

    async def get_run(self, run_id: int) -> RemediationRun | None:
        def run(conn: sqlite3.Connection) -> RemediationRun | None:
            row = conn.execute(f"{_RUN_SELECT} WHERE id = ?", (int(run_id),)).fetchone()
            return None if row is None else codec.row_run(row)

        return await self._call("get_run", run)

    # -- change events ------------------------------------------------------------

    async def add_change(self, change: ChangeRecord) -> int:
        params = (float(change.time), codec.text(change.service), codec.text(change.version),
                  codec.text(change.previous_version), codec.text(change.link), codec.dumps(dict(change.labels)),
                  codec.text(change.created_by))

        def insert(conn: sqlite3.Connection) -> int:
            cur = conn.execute("INSERT INTO changes (time, service, version, previous_version, link, labels, created_by) "
                               "VALUES (?, ?, ?, ?, ?, ?, ?)", params)
            return int(cur.lastrowid)

        return await self._call("add_change", insert)

    async def changes(self, service: str | None = None, since: float | None = None, until: float | None = None,
                      limit: int = 100) -> list[ChangeRecord]:
        where, params = [], []
        for clause, value in (("service = ?", service), ("time >= ?", since), ("time <= ?", until)):
            if value is not None:
                where.append(clause)
                params.append(value)
        sql = ("SELECT id, time, service, version, previous_version, link, labels, created_by FROM changes"
               + (" WHERE " + " AND ".join(where) if where else "") + " ORDER BY time DESC, id DESC LIMIT ?")

        def run(conn: sqlite3.Connection) -> list[ChangeRecord]:
            return [ChangeRecord(id=r[0], time=r[1], service=r[2], version=r[3], previous_version=r[4], link=r[5],
                                 labels=codec.loads(r[6]) or {}, created_by=r[7])
                    for r in conn.execute(sql, (*params, int(limit))).fetchall()]

        return await self._call("changes", run)

    # -- housekeeping -----------------------------------------------------------

    async def prune(self, before: float) -> int:
        """Delete events, finished runs and notification-log rows older than `before`.

        Never touches the outbox (every item there is undelivered), alert
        states, or runs still pending/running/awaiting approval. Deletes in
        batches so other store calls interleave. Returns rows removed.
        """
        before = float(before)
        batch = self._prune_batch

        def delete(conn: sqlite3.Connection, sql: str, params: tuple[Any, ...]) -> int:
            return conn.execute(sql, params).rowcount

        removed = 0
        for sql, params in (
            (_PRUNE_EVENTS, (before, batch)),
            (_PRUNE_RUNS, (*_FINISHED, before, batch)),
        ):
            while True:
                n = await self._call("prune", delete, sql, params)
                removed += n
                if n < batch:
                    break
        removed += await self._call("prune", delete, _PRUNE_NOTIFICATIONS, (before,))
        return removed
