"""The SQLite schema, as an ordered list of migrations (migration 1 = the initial schema).

Conventions that keep the schema portable to PostgreSQL: times are REAL unix
seconds, mappings are JSON in TEXT columns, alert values are TEXT (Python's
repr of the float) so NaN and +/-Inf survive on every backend, no SQLite-only
column types. Only the auto-increment syntax differs per backend.
"""

from __future__ import annotations

from watchdog.state.migrations import Migration, validate_migrations

INITIAL_SCHEMA = Migration(
    version=1,
    description="initial schema: events, alerts, remediation_runs, notification_log, outbox, kv",
    statements=(
        """CREATE TABLE events (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            kind TEXT NOT NULL,
            data TEXT NOT NULL
        )""",
        "CREATE INDEX events_time ON events (time)",
        "CREATE INDEX events_kind_time ON events (kind, time)",
        """CREATE TABLE alerts (
            rule TEXT NOT NULL,
            fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            annotations TEXT NOT NULL,
            state TEXT NOT NULL,
            active_at REAL NOT NULL,
            fired_at REAL,
            resolved_at REAL,
            value TEXT,
            keep_firing_since REAL,
            updated_at REAL NOT NULL,
            PRIMARY KEY (rule, fingerprint)
        )""",
        """CREATE TABLE remediation_runs (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            spec TEXT NOT NULL,
            alert_fingerprint TEXT NOT NULL,
            labels TEXT NOT NULL,
            status TEXT NOT NULL,
            created_at REAL NOT NULL,
            target TEXT NOT NULL,
            trigger_kind TEXT NOT NULL,
            action TEXT NOT NULL,
            started_at REAL,
            ended_at REAL,
            exit_code INTEGER,
            output_tail TEXT NOT NULL,
            verify TEXT NOT NULL,
            note TEXT NOT NULL,
            approved_by TEXT NOT NULL
        )""",
        "CREATE INDEX remediation_runs_spec_created ON remediation_runs (spec, created_at)",
        "CREATE INDEX remediation_runs_created ON remediation_runs (created_at)",
        "CREATE INDEX remediation_runs_status ON remediation_runs (status)",
        """CREATE TABLE notification_log (
            group_key TEXT NOT NULL,
            receiver TEXT NOT NULL,
            status TEXT NOT NULL,
            sent_at REAL NOT NULL,
            dedup_key TEXT NOT NULL,
            firing_fingerprints TEXT NOT NULL,
            resolved_fingerprints TEXT NOT NULL,
            PRIMARY KEY (group_key, receiver)
        )""",
        "CREATE INDEX notification_log_sent ON notification_log (sent_at)",
        """CREATE TABLE outbox (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            receiver TEXT NOT NULL,
            group_key TEXT NOT NULL,
            payload TEXT NOT NULL,
            created_at REAL NOT NULL,
            next_attempt_at REAL NOT NULL,
            attempts INTEGER NOT NULL,
            last_error TEXT NOT NULL,
            dedup_key TEXT NOT NULL
        )""",
        "CREATE INDEX outbox_due ON outbox (next_attempt_at)",
        """CREATE TABLE kv (
            key TEXT PRIMARY KEY,
            value TEXT NOT NULL,
            updated_at REAL NOT NULL
        )""",
    ),
)

CHANGES = Migration(
    version=2,
    description="changes: deploy/change events for change-aware remediation",
    statements=(
        """CREATE TABLE changes (
            id INTEGER PRIMARY KEY AUTOINCREMENT,
            time REAL NOT NULL,
            service TEXT NOT NULL,
            version TEXT NOT NULL,
            previous_version TEXT NOT NULL,
            link TEXT NOT NULL,
            labels TEXT NOT NULL,
            created_by TEXT NOT NULL
        )""",
        "CREATE INDEX changes_service_time ON changes (service, time)",
        "CREATE INDEX changes_time ON changes (time)",
    ),
)

MIGRATIONS: tuple[Migration, ...] = (INITIAL_SCHEMA, CHANGES)
validate_migrations(MIGRATIONS)

SCHEMA_VERSION = MIGRATIONS[-1].version

# Created before any migration runs; never migrated itself.
SCHEMA_VERSION_TABLE = """CREATE TABLE IF NOT EXISTS schema_version (
    version INTEGER PRIMARY KEY,
    applied_at REAL NOT NULL,
    description TEXT NOT NULL
)"""
