"""The SQL the SQLite store runs: statements built once from the codec's constant column lists.

Values are always bound parameters; only these constant names are ever formatted into SQL.
"""

from __future__ import annotations

import sqlite3
from contextlib import contextmanager
from typing import Iterator, Sequence

from watchdog.state import codec
from watchdog.state.base import FINISHED_RUN_STATUSES

_RUN_SELECT = "SELECT id, " + ", ".join(codec.RUN_COLUMNS) + " FROM remediation_runs"
_OUTBOX_SELECT = "SELECT id, " + ", ".join(codec.OUTBOX_COLUMNS) + " FROM outbox"
_FINISHED = tuple(sorted(FINISHED_RUN_STATUSES))


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
_KV_UPSERT = ("INSERT INTO kv (key, value, updated_at) VALUES (?, ?, ?) "
              "ON CONFLICT (key) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at")


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
