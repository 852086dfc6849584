"""Record <-> row conversion shared by the SQL backends.

Values are bound as parameters only (never formatted into SQL). Mappings are
JSON text; floats that a column cannot hold exactly (NaN, +/-Inf) are stored
as Python's repr in TEXT columns; strings that UTF-8 cannot encode (lone
surrogates, e.g. from a target's undecodable bytes) are made encodable in plain
columns and escaped by JSON inside JSON columns, so hostile input is stored
instead of failing the write.
"""

from __future__ import annotations

import json
from typing import Any, Mapping

from watchdog.model import Event
from watchdog.state.base import AlertRecord, NotificationRecord, OutboxItem, RemediationRun


def _json_default(obj: Any) -> Any:
    if isinstance(obj, (set, frozenset)):
        return sorted(obj, key=str)
    if isinstance(obj, bytes):
        return obj.decode("utf-8", "replace")
    # Anything else is data we keep a readable trace of rather than fail the write.
    return str(obj)


def dumps(obj: Any) -> str:
    # ensure_ascii keeps lone surrogates as \udXXX escapes, which round-trip.
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"), default=_json_default)


def loads(text: str | None) -> Any:
    return json.loads(text) if text else {}


def mapping_json(mapping: Mapping[str, Any] | None) -> str:
    # dict() also accepts a Labels (a tuple of pairs), a common slip for callers.
    return dumps(dict(mapping or {}))


def text(value: str | None) -> str:
    """A str that UTF-8 can encode (SQLite rejects lone surrogates)."""
    if value is None:
        return ""
    value = str(value)
    try:
        value.encode("utf-8")
        return value
    except UnicodeEncodeError:
        return value.encode("utf-8", "backslashreplace").decode("utf-8")


def float_text(value: float | None) -> str | None:
    return None if value is None else repr(float(value))


def text_float(value: str | None) -> float | None:
    return None if value is None else float(value)


# -- events -----------------------------------------------------------------

def event_row(event: Event) -> tuple[Any, ...]:
    return (float(event.time), text(event.kind), mapping_json(event.data))


def row_event(row: tuple[Any, ...]) -> Event:
    event_id, time, kind, data = row
    return Event(time=time, kind=kind, data=loads(data), id=event_id)


# -- alerts -----------------------------------------------------------------

ALERT_COLUMNS = (
    "rule", "fingerprint", "labels", "annotations", "state", "active_at",
    "fired_at", "resolved_at", "value", "keep_firing_since", "updated_at",
)


def alert_row(rec: AlertRecord) -> tuple[Any, ...]:
    return (
        text(rec.rule), text(rec.fingerprint), mapping_json(rec.labels), mapping_json(rec.annotations),
        text(rec.state), float(rec.active_at), rec.fired_at, rec.resolved_at,
        float_text(rec.value), rec.keep_firing_since, float(rec.updated_at),
    )


def row_alert(row: tuple[Any, ...]) -> AlertRecord:
    (rule, fingerprint, labels, annotations, state, active_at,
     fired_at, resolved_at, value, keep_firing_since, updated_at) = row
    return AlertRecord(
        rule=rule, fingerprint=fingerprint, labels=loads(labels), annotations=loads(annotations),
        state=state, active_at=active_at, fired_at=fired_at, resolved_at=resolved_at,
        value=text_float(value), keep_firing_since=keep_firing_since, updated_at=updated_at,
    )


# -- remediation runs -----------------------------------------------------------

RUN_COLUMNS = (
    "spec", "alert_fingerprint", "labels", "status", "created_at", "target", "trigger_kind",
    "action", "started_at", "ended_at", "exit_code", "output_tail", "verify", "note", "approved_by",
)


def run_row(run: RemediationRun) -> tuple[Any, ...]:
    return (
        text(run.spec), text(run.alert_fingerprint), mapping_json(run.labels), text(run.status),
        float(run.created_at), text(run.target), text(run.trigger), mapping_json(run.action),
        run.started_at, run.ended_at, None if run.exit_code is None else int(run.exit_code),
        text(run.output_tail), mapping_json(run.verify), text(run.note), text(run.approved_by),
    )


def row_run(row: tuple[Any, ...]) -> RemediationRun:
    (run_id, spec, alert_fingerprint, labels, status, created_at, target, trigger, action,
     started_at, ended_at, exit_code, output_tail, verify, note, approved_by) = row
    return RemediationRun(
        spec=spec, alert_fingerprint=alert_fingerprint, labels=loads(labels), status=status,
        created_at=created_at, target=target, trigger=trigger, action=loads(action),
        started_at=started_at, ended_at=ended_at, exit_code=exit_code, output_tail=output_tail,
        verify=loads(verify), note=note, approved_by=approved_by, id=run_id,
    )


# -- notification log -------------------------------------------------------------

NOTIFICATION_COLUMNS = (
    "group_key", "receiver", "status", "sent_at", "dedup_key", "firing_fingerprints", "resolved_fingerprints",
)


def notification_row(rec: NotificationRecord) -> tuple[Any, ...]:
    return (
        text(rec.group_key), text(rec.receiver), text(rec.status), float(rec.sent_at), text(rec.dedup_key),
        dumps([text(f) for f in rec.firing_fingerprints]), dumps([text(f) for f in rec.resolved_fingerprints]),
    )


def row_notification(row: tuple[Any, ...]) -> NotificationRecord:
    group_key, receiver, status, sent_at, dedup_key, firing, resolved = row
    return NotificationRecord(
        group_key=group_key, receiver=receiver, status=status, sent_at=sent_at, dedup_key=dedup_key,
        firing_fingerprints=tuple(json.loads(firing)), resolved_fingerprints=tuple(json.loads(resolved)),
    )


# -- outbox -----------------------------------------------------------------

OUTBOX_COLUMNS = (
    "receiver", "group_key", "payload", "created_at", "next_attempt_at", "attempts", "last_error", "dedup_key",
)


def outbox_row(item: OutboxItem) -> tuple[Any, ...]:
    return (
        text(item.receiver), text(item.group_key), mapping_json(item.payload), float(item.created_at),
        float(item.next_attempt_at), int(item.attempts), text(item.last_error), text(item.dedup_key),
    )


def row_outbox(row: tuple[Any, ...]) -> OutboxItem:
    (item_id, receiver, group_key, payload, created_at, next_attempt_at, attempts, last_error, dedup_key) = row
    return OutboxItem(
        receiver=receiver, group_key=group_key, payload=loads(payload), created_at=created_at,
        next_attempt_at=next_attempt_at, attempts=attempts, last_error=last_error, dedup_key=dedup_key, id=item_id,
    )
