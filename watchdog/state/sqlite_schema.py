"""Opening an SQLite database file safely, migrating its schema, and marking runs a crash left unfinished.

Everything here runs on the store's worker thread (it blocks).
"""

from __future__ import annotations

import logging
import os
import sqlite3
from pathlib import Path

from watchdog.model import Event
from watchdog.state import codec
from watchdog.state.base import StoreError
from watchdog.state.migrations import pending_migrations
from watchdog.state.migrations.sqlite import MIGRATIONS, SCHEMA_VERSION_TABLE
from watchdog.state.sqlite_sql import _RUN_SELECT, _transaction

log = logging.getLogger("watchdog.state.sqlite")

SQLITE_HEADER = b"SQLite format 3\x00"
MEMORY = ":memory:"
INTERRUPTED_NOTE = "interrupted: daemon stopped before the run finished"
CRASH_INTERRUPTED_STATUSES = ("pending", "running")


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


def connect(path: str, busy_timeout_ms: int) -> sqlite3.Connection:
    """Open the connection (autocommit, WAL for a file) after checking the file is SQLite and private."""
    if path != MEMORY:
        file = Path(path)
        _check_header(file)
        try:
            _prepare_file(file)
        except OSError as e:
            raise StoreError(f"{file}: cannot create database file: {e.strerror or e}") from e
    try:
        conn = sqlite3.connect(path, isolation_level=None, timeout=busy_timeout_ms / 1000)
    except sqlite3.Error as e:
        raise StoreError(f"{path}: cannot open database: {e}") from e
    try:
        conn.execute(f"PRAGMA busy_timeout = {busy_timeout_ms:d}")
        if path != MEMORY:
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
            if str(mode).lower() != "wal":
                raise StoreError(f"{path}: could not switch to WAL journal mode (got {mode!r})")
            conn.execute("PRAGMA synchronous = NORMAL")
            for suffix in ("-wal", "-shm"):
                side = Path(path + suffix)
                if side.exists():
                    os.chmod(side, 0o600)
    except sqlite3.DatabaseError as e:
        conn.close()
        raise StoreError(f"{path}: not a usable SQLite database: {e}") from e
    except BaseException:
        conn.close()
        raise
    return conn


def migrate(conn: sqlite3.Connection, now: float, path: str) -> int:
    """Apply the migrations the file lacks, in one transaction; returns the schema version."""
    with _transaction(conn):
        conn.execute(SCHEMA_VERSION_TABLE)
        current = conn.execute("SELECT MAX(version) FROM schema_version").fetchone()[0] or 0
        todo = pending_migrations(current, MIGRATIONS, path=path)
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


def mark_interrupted(conn: sqlite3.Connection, now: float) -> list[int]:
    """Runs a crash left pending/running become `interrupted` (with a timeline event); returns their ids."""
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
