"""The Store protocol: everything that must survive a restart.

Alert states (with their `for` start times), remediation runs, the event
timeline, the notification log and the outbox. SQLite (WAL) is the default
backend; PostgreSQL comes later behind this same protocol, so backends keep
their SQL portable. Methods are async because the store is I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from watchdog.model import Event


class StoreError(Exception):
    """A store could not do what was asked (unusable file, disk error, closed store).

    Messages name the database path and never contain row data.
    """


class SchemaVersionError(StoreError):
    """The database was written by a newer watchdog than this one."""


# Remediation run statuses. Unfinished runs are never pruned; at open() a run
# left `pending`/`running` by a crash becomes `interrupted`. `prune` deletes
# only runs in a FINISHED status, so a status added later is kept until listed.
UNFINISHED_RUN_STATUSES: frozenset[str] = frozenset({"pending", "running", "awaiting_approval"})
FINISHED_RUN_STATUSES: frozenset[str] = frozenset(
    {"succeeded", "failed", "verified", "verification_failed", "interrupted", "dry_run", "skipped", "expired", "cancelled"}
)


@dataclass(frozen=True, slots=True)
class ChangeRecord:
    """A change (deploy) to a service: `POST /api/v1/changes`, `watchdog change record`."""

    service: str
    version: str
    time: float
    previous_version: str = ""
    link: str = ""
    labels: Mapping[str, str] = field(default_factory=dict)   # extra labels to match on (`requires_change.same`)
    created_by: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class AlertRecord:
    """Persisted state of one alert instance of one rule."""

    rule: str                      # rule identity: "<file>:<group>:<alertname>[:<index>]"
    fingerprint: str               # Labels.fingerprint() of the alert's labels
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    state: str                     # pending | firing | resolved
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    value: float | None = None
    keep_firing_since: float | None = None
    updated_at: float = 0.0


@dataclass(slots=True)
class RemediationRun:
    """One remediation attempt, recorded before it starts."""

    spec: str                      # remediation spec name
    alert_fingerprint: str
    labels: Mapping[str, str]
    status: str                    # pending | running | succeeded | failed | verified | verification_failed | interrupted | dry_run | skipped | expired | cancelled | awaiting_approval
    created_at: float
    target: str = ""               # what it acts on, for the blast-radius limit
    trigger: str = "alert"         # alert | manual
    action: Mapping[str, Any] = field(default_factory=dict)   # e.g. {"type": "command", "argv": [...]}
    started_at: float | None = None
    ended_at: float | None = None
    exit_code: int | None = None
    output_tail: str = ""
    verify: Mapping[str, Any] = field(default_factory=dict)   # {"expr":..., "result": "verified"|"failed", "at": t}
    note: str = ""
    approved_by: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class NotificationRecord:
    """What was sent to one receiver for one alert group (the notification log)."""

    group_key: str
    receiver: str
    status: str                    # firing | resolved
    sent_at: float
    dedup_key: str = ""
    firing_fingerprints: tuple[str, ...] = ()
    resolved_fingerprints: tuple[str, ...] = ()


@dataclass(slots=True)
class OutboxItem:
    """A notice written before it is sent and removed once the receiver accepted it."""

    receiver: str
    group_key: str
    payload: Mapping[str, Any]     # everything the notifier needs, JSON-serialisable
    created_at: float
    next_attempt_at: float
    attempts: int = 0
    last_error: str = ""
    dedup_key: str = ""
    id: int | None = None


@dataclass(frozen=True, slots=True)
class SilenceRecord:
    """A silence (Alertmanager's fields); kept after it expires until pruned."""

    id: str
    matchers: tuple[str, ...]
    starts_at: float
    ends_at: float
    created_by: str = ""
    comment: str = ""
    updated_at: float = 0.0


@dataclass(frozen=True, slots=True)
class AckRecord:
    """An acknowledgement of one alert group: who, why, until when (None = until resolved or un-acked)."""

    group_key: str
    by: str
    comment: str
    created_at: float
    expires_at: float | None = None


class Store(Protocol):
    async def open(self) -> None:
        """Create or migrate the schema (schema_version table); mark unfinished runs interrupted."""

    async def close(self) -> None: ...

    # -- timeline -------------------------------------------------------
    async def append_event(self, event: Event) -> int:
        """Append to the timeline; returns the event id."""

    async def events(self, since: float | None = None, limit: int = 1000, kinds: Sequence[str] | None = None) -> list[Event]:
        """Oldest first, `time >= since`."""

    # -- alert states -----------------------------------------------------
    async def save_alerts(self, records: Sequence[AlertRecord]) -> None:
        """Upsert by (rule, fingerprint)."""

    async def delete_alerts(self, keys: Sequence[tuple[str, str]]) -> None:
        """Forget (rule, fingerprint) pairs (inactive long enough)."""

    async def load_alerts(self) -> list[AlertRecord]: ...

    # -- remediation runs -------------------------------------------------
    async def add_run(self, run: RemediationRun) -> int:
        """Insert; sets and returns run.id."""

    async def update_run(self, run: RemediationRun) -> None: ...

    async def runs(self, spec: str | None = None, since: float | None = None, limit: int = 500) -> list[RemediationRun]:
        """Newest first."""

    async def get_run(self, run_id: int) -> RemediationRun | None: ...

    async def add_change(self, change: ChangeRecord) -> int:
        """Store a change event; returns its id."""

    async def changes(self, service: str | None = None, since: float | None = None, until: float | None = None,
                      limit: int = 100) -> list[ChangeRecord]:
        """Changes newest first, optionally of one service and within [since, until]."""

    # -- notification log and outbox --------------------------------------
    async def log_notification(self, record: NotificationRecord) -> None: ...

    async def last_notification(self, group_key: str, receiver: str) -> NotificationRecord | None: ...

    async def outbox_put(self, item: OutboxItem) -> int: ...

    async def outbox_due(self, now: float, limit: int = 100) -> list[OutboxItem]:
        """Items with next_attempt_at <= now, oldest first."""

    async def outbox_all(self) -> list[OutboxItem]: ...

    async def outbox_update(self, item: OutboxItem) -> None: ...

    async def outbox_delete(self, item_id: int) -> None: ...

    # -- key/value (kill switch, detector models, ...) ---------------------
    async def kv_get(self, key: str) -> str | None: ...

    async def kv_set(self, key: str, value: str | None) -> None:
        """None deletes."""

    # -- silences, acks, alert-group state (routing) -----------------------
    async def save_silence(self, silence: SilenceRecord) -> None:
        """Upsert by id."""

    async def load_silences(self) -> list[SilenceRecord]: ...

    async def delete_silence(self, silence_id: str) -> None: ...

    async def save_ack(self, ack: AckRecord) -> None:
        """Upsert by group_key."""

    async def delete_ack(self, group_key: str) -> None: ...

    async def load_acks(self) -> list[AckRecord]: ...

    async def save_group_state(self, group_key: str, data: Mapping[str, Any]) -> None:
        """Upsert the dispatcher's per-group state (escalation progress, notified receivers)."""

    async def delete_group_state(self, group_key: str) -> None: ...

    async def load_group_states(self) -> dict[str, dict[str, Any]]: ...

    # -- housekeeping ---------------------------------------------------
    async def prune(self, before: float) -> int:
        """Delete timeline events, runs and notification log entries older than `before`; returns rows removed."""
