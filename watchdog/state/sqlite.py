"""SQLite (WAL) implementation of the Store protocol: the embedded default.

sqlite3 blocks, so one dedicated worker thread owns the connection and runs
every statement; the event loop only awaits. One thread also serialises
writes, which is what SQLite wants anyway. Each call is a few small
statements; large deletes (retention) run in batches so other calls interleave.

`SqliteStore(":memory:")` is a real store without a file, for scenarios and
tests that need no persistence.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Callable, Iterator, Mapping, Sequence, TypeVar

from watchdog.clock import SYSTEM_CLOCK, Clock
from watchdog.model import Event
from watchdog.state import codec
from watchdog.state.base import (
    FINISHED_RUN_STATUSES,
    AckRecord,
    AlertRecord,
    ChangeRecord,
    NotificationRecord,
    OutboxItem,
    RemediationRun,
    SilenceRecord,
    StoreError,
)
from watchdog.state.metrics import ERRORS, INTERRUPTED_RUNS, QUERY_DURATION
from watchdog.state.migrations import pending_migrations
from watchdog.state.migrations.sqlite import MIGRATIONS, SCHEMA_VERSION_TABLE

log = logging.getLogger(__name__)

T = TypeVar("T")

SQLITE_HEADER = b"SQLite format 3\x00"
MEMORY = ":memory:"
INTERRUPTED_NOTE = "interrupted: daemon stopped before the run finished"
CRASH_INTERRUPTED_STATUSES = ("pending", "running")

_RUN_SELECT = "SELECT id, " + ", ".join(codec.RUN_COLUMNS) + " FROM remediation_runs"
_OUTBOX_SELECT = "SELECT id, " + ", ".join(codec.OUTBOX_COLUMNS) + " FROM outbox"
_FINISHED = tuple(sorted(FINISHED_RUN_STATUSES))
_SILENCE_PREFIX = "alerting/silence/"
_ACK_PREFIX = "alerting/ack/"
_GROUP_PREFIX = "alerting/group/"


def _placeholders(n: int) -> str:
    return ", ".join("?" * n)


def _upsert(table: str, columns: Sequence[str], key: Sequence[str]) -> str:
    updates = ", ".join(f"{c} = excluded.{c}" for c in columns if c not in key)
    return (
        f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({_placeholders(len(columns))}) "
        f"ON CONFLICT ({', '.join(key)}) DO UPDATE SET {updates}"
    )


# Built once from constant column lists: values are always bound parameters.
_ALERT_UPSERT = _upsert("alerts", codec.ALERT_COLUMNS, ("rule", "fingerprint"))
_NOTIFICATION_UPSERT = _upsert("notification_log", codec.NOTIFICATION_COLUMNS, ("group_key", "receiver"))
_RUN_INSERT = f"INSERT INTO remediation_runs ({', '.join(codec.RUN_COLUMNS)}) VALUES ({_placeholders(len(codec.RUN_COLUMNS))})"
_RUN_UPDATE = f"UPDATE remediation_runs SET {', '.join(f'{c} = ?' for c in codec.RUN_COLUMNS)} WHERE id = ?"
_OUTBOX_INSERT = f"INSERT INTO outbox ({', '.join(codec.OUTBOX_COLUMNS)}) VALUES ({_placeholders(len(codec.OUTBOX_COLUMNS))})"
_OUTBOX_UPDATE = f"UPDATE outbox SET {', '.join(f'{c} = ?' for c in codec.OUTBOX_COLUMNS)} WHERE id = ?"
_PRUNE_EVENTS = "DELETE FROM events WHERE id IN (SELECT id FROM events WHERE time < ? ORDER BY id LIMIT ?)"
_PRUNE_RUNS = (
    "DELETE FROM remediation_runs WHERE id IN (SELECT id FROM remediation_runs "
    f"WHERE status IN ({_placeholders(len(_FINISHED))}) AND COALESCE(ended_at, created_at) < ? ORDER BY id LIMIT ?)"
)
_PRUNE_NOTIFICATIONS = "DELETE FROM notification_log WHERE sent_at < ?"


@contextmanager
def _transaction(conn: sqlite3.Connection) -> Iterator[None]:
    # The connection is in autocommit mode (isolation_level=None); multi-statement
    # writes take the write lock up front so they never fail half-way on a busy lock.
    conn.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        conn.execute("ROLLBACK")
        raise
    conn.execute("COMMIT")


def _check_header(path: Path) -> None:
    """Refuse a file that is not SQLite before sqlite3 touches it."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(SQLITE_HEADER))
    except FileNotFoundError:
        return
    except OSError as e:
        raise StoreError(f"{path}: cannot read database file: {e.strerror or e}") from e
    if head and head != SQLITE_HEADER:
        raise StoreError(f"{path}: not an SQLite database (corrupt or another kind of file); refusing to open it")


def _prepare_file(path: Path) -> None:
    """Parent directory created; the file exists and is readable by its owner only."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)


class SqliteStore:
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
            self.schema_version = await self._call("migrate", self._migrate, now)
            self.interrupted_run_ids = await self._call("mark_interrupted", self._mark_interrupted, now)
        except BaseException:
            await self.close()
            raise
        if self.interrupted_run_ids:
            INTERRUPTED_RUNS.inc(len(self.interrupted_run_ids))
            log.warning("marked %d unfinished remediation run(s) interrupted", len(self.interrupted_run_ids),
                        extra={"run_ids": self.interrupted_run_ids})

    def _connect(self) -> None:
        """Worker thread: open the connection and set it up."""
        if self._path != MEMORY:
            path = Path(self._path)
            _check_header(path)
            try:
                _prepare_file(path)
            except OSError as e:
                raise StoreError(f"{path}: cannot create database file: {e.strerror or e}") from e
        try:
            conn = sqlite3.connect(self._path, isolation_level=None, timeout=self._busy_timeout_ms / 1000)
        except sqlite3.Error as e:
            raise StoreError(f"{self._path}: cannot open database: {e}") from e
        try:
            conn.execute(f"PRAGMA busy_timeout = {self._busy_timeout_ms:d}")
            if self._path != MEMORY:
                mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
                if str(mode).lower() != "wal":
                    raise StoreError(f"{self._path}: could not switch to WAL journal mode (got {mode!r})")
                conn.execute("PRAGMA synchronous = NORMAL")
                for suffix in ("-wal", "-shm"):
                    side = Path(self._path + suffix)
                    if side.exists():
                        os.chmod(side, 0o600)
        except sqlite3.DatabaseError as e:
            conn.close()
            raise StoreError(f"{self._path}: not a usable SQLite database: {e}") from e
        except BaseException:
            conn.close()
            raise
        self._conn = conn

    def _migrate(self, conn: sqlite3.Connection, now: float) -> int:
        with _transaction(conn):
            conn.execute(SCHEMA_VERSION_TABLE)
            current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
            todo = pending_migrations(current, MIGRATIONS, path=self._path)
            for migration in todo:
                for statement in migration.statements:
                    conn.execute(statement)
                conn.execute(
                    "INSERT INTO schema_version (version, applied_at, description) VALUES (?, ?, ?)",
                    (migration.version, now, migration.description),
                )
        if todo:
            log.info("database schema migrated from version %d to %d", current, todo[-1].version)
            return todo[-1].version
        return current

    @staticmethod
    def _mark_interrupted(conn: sqlite3.Connection, now: float) -> list[int]:
        marked: list[int] = []
        with _transaction(conn):
            rows = conn.execute(
                f"{_RUN_SELECT} WHERE status IN (?, ?) ORDER BY id", CRASH_INTERRUPTED_STATUSES
            ).fetchall()
            for row in rows:
                run = codec.row_run(row)
                note = f"{run.note}; {INTERRUPTED_NOTE}" if run.note else INTERRUPTED_NOTE
                conn.execute(
                    "UPDATE remediation_runs SET status = ?, ended_at = ?, note = ? WHERE id = ?",
                    ("interrupted", now, note, run.id),
                )
                data = {
                    "run_id": run.id, "spec": run.spec, "alert_fingerprint": run.alert_fingerprint,
                    "labels": dict(run.labels), "target": run.target, "previous_status": run.status, "note": note,
                }
                conn.execute(
                    "INSERT INTO events (time, kind, data) VALUES (?, ?, ?)",
                    codec.event_row(Event(time=now, kind="remediation.interrupted", data=data)),
                )
                marked.append(int(run.id))  # type: ignore[arg-type]
        return marked

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

    # -- notification log and outbox ------------------------------------------------

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

    # -- key/value ------------------------------------------------------------

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
            conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params,
            )

        await self._call("kv_set", upsert)

    # -- silences, acks, alert-group state ------------------------------------------
    # Rows of the kv table under one prefix each: no schema change, and a prefix range
    # scan (key >= prefix AND key < prefix + U+10FFFF) lists them in key order.

    async def _kv_put(self, operation: str, key: str, value: Mapping[str, Any]) -> None:
        params = (codec.text(key), codec.dumps(dict(value)), self._clock.now())

        def run(conn: sqlite3.Connection) -> None:
            conn.execute(
                "INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
                "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
                params,
            )

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
