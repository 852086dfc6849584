"""Change (deploy) events and change-aware remediation.

A deploy pipeline records a change (`POST /api/v1/changes`, `watchdog change
record`); it is stored and put on the timeline as `change.recorded`. A spec
with `requires_change: {within, same}` runs only when a change whose `same`
labels equal the alert's landed within `within` before the alert started;
its templates then see that change as `$change`. Matching is pure.

Where `change_events.pagerduty` is configured, a ChangeForwarder sends every
stored change to PagerDuty Change Events. It works from the store, not from
the API call, so a change recorded by any path (API, CLI, a standby) is
forwarded, and a cursor in the store (the last forwarded id) makes it survive
restarts: at least once, oldest first, a retryable failure retried on the next
round for up to FORWARD_RETRY_SECONDS, a permanent one recorded and skipped.
"""

from __future__ import annotations

import logging
import re
from typing import Any, Mapping, Protocol, Sequence

from watchdog.clock import Clock
from watchdog.durations import format_duration
from watchdog.model import Event
from watchdog.remediate import metrics
from watchdog.remediate.spec import RequiresChange
from watchdog.state.base import ChangeRecord, Store

log = logging.getLogger("watchdog.remediate.changes")

FIELD_LIMIT = 1024
LABEL_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


class ChangeError(ValueError):
    """A change event that cannot be recorded (the message says which field)."""


def change_labels(change: ChangeRecord) -> dict[str, str]:
    """What `requires_change.same` compares: the change's labels plus `service`."""
    return {**dict(change.labels), "service": change.service}


def change_json(change: ChangeRecord) -> dict[str, Any]:
    """As the API, the timeline and `$change` in templates see it."""
    return {"id": change.id, "time": change.time, "service": change.service, "version": change.version,
            "previous_version": change.previous_version, "link": change.link, "labels": dict(change.labels),
            "created_by": change.created_by}


def find_change(changes: Sequence[ChangeRecord], labels: Mapping[str, str], rule: RequiresChange,
                started_at: float) -> ChangeRecord | None:
    """The newest change in [started_at - within, started_at] whose `same` labels equal the alert's (all non-empty)."""
    wanted = {name: labels.get(name, "") for name in rule.same}
    if any(not v for v in wanted.values()):
        return None
    for change in sorted(changes, key=lambda c: (c.time, c.id or 0), reverse=True):
        if not started_at - rule.within <= change.time <= started_at:
            continue
        have = change_labels(change)
        if all(have.get(name) == value for name, value in wanted.items()):
            return change
    return None


def no_change_reason(labels: Mapping[str, str], rule: RequiresChange) -> str:
    same = ", ".join(f"{n}={labels.get(n, '')!r}" for n in rule.same)
    return f"no change to {same} within {format_duration(rule.within)} before the alert started: a human decides"


def parse_change(body: Any, *, now: float, by: str = "") -> ChangeRecord:
    """A change from an API body / CLI flags; raises ChangeError."""
    if not isinstance(body, Mapping):
        raise ChangeError("body must be a JSON object {service, version, previous_version?, link?, labels?, time?}")
    unknown = sorted(set(body) - {"service", "version", "previous_version", "link", "labels", "time", "by"})
    if unknown:
        raise ChangeError(f"unknown field(s): {', '.join(unknown)}")

    def text(name: str, required: bool = False) -> str:
        value = body.get(name)
        if value is None or value == "":
            if required:
                raise ChangeError(f"{name}: required")
            return ""
        if not isinstance(value, str):
            raise ChangeError(f"{name}: must be a string")
        if len(value) > FIELD_LIMIT or "\x00" in value:
            raise ChangeError(f"{name}: longer than {FIELD_LIMIT} characters or contains NUL")
        return value

    link = text("link")
    if link and not link.lower().startswith(("http://", "https://")):
        raise ChangeError("link: must be an http(s) URL")
    labels = body.get("labels") or {}
    if not isinstance(labels, Mapping) or not all(isinstance(k, str) and LABEL_NAME.fullmatch(k) and isinstance(v, str)
                                                   for k, v in labels.items()):
        raise ChangeError("labels: must map label names to strings")
    when = body.get("time", now)
    if isinstance(when, bool) or not isinstance(when, (int, float)) or when != when:
        raise ChangeError("time: must be unix seconds")
    return ChangeRecord(service=text("service", True), version=text("version", True), time=float(when),
                        previous_version=text("previous_version"), link=link, labels=dict(labels),
                        created_by=text("by") or by)


async def record_change(store: Store, change: ChangeRecord, clock: Clock) -> ChangeRecord:
    """Store the change and put it on the timeline (`change.recorded`)."""
    change_id = await store.add_change(change)
    stored = ChangeRecord(**{**change_json(change), "id": change_id})
    await store.append_event(Event(time=clock.now(), kind="change.recorded",
                                   data={**change_json(stored), "labels": change_labels(stored)}))
    return stored


CHANGE_CURSOR_KEY = "remediation.change_events.cursor"   # id of the last change handled by the forwarder
FIRST_LOOKBACK_SECONDS = 3600.0   # with no cursor yet (newly configured): forward changes of the last hour only
FORWARD_BATCH = 500               # changes looked at per round (newest first); more are picked up next round
FORWARD_RETRY_SECONDS = 3600.0    # a change PagerDuty keeps refusing with a retryable error is given up after this


class ChangeSender(Protocol):
    async def send(self, change: Mapping[str, Any]) -> None: ...   # raises notify RetryableError / PermanentError

    async def close(self) -> None: ...


def changes_to_forward(changes: Sequence[ChangeRecord], cursor: int | None, *, now: float) -> list[ChangeRecord]:
    """Oldest first: the changes after the cursor (or, without one, those of the last hour)."""
    if cursor is None:
        fresh = [c for c in changes if c.time >= now - FIRST_LOOKBACK_SECONDS]
    else:
        fresh = [c for c in changes if c.id is not None and c.id > cursor]
    return sorted((c for c in fresh if c.id is not None), key=lambda c: c.id or 0)


class ChangeForwarder:
    def __init__(self, sender: ChangeSender, *, store: Store, clock: Clock, target: str = "pagerduty") -> None:
        self._sender = sender
        self._store = store
        self._clock = clock
        self._target = target
        self._failing_since: dict[int, float] = {}

    async def forward_new(self) -> int:
        """Send what was recorded since the last round; returns how many were delivered. Never raises for a change."""
        from watchdog.notify.base import PermanentError, RetryableError

        raw = await self._store.kv_get(CHANGE_CURSOR_KEY)
        cursor = int(raw) if raw and raw.isdigit() else None
        now = self._clock.now()
        delivered = 0
        stored = await self._store.changes(limit=FORWARD_BATCH)
        todo = changes_to_forward(stored, cursor, now=now)
        if cursor is None:
            # start the cursor on the first round, so what was chosen now is what later rounds continue from
            start = (todo[0].id or 1) - 1 if todo else max((c.id or 0 for c in stored), default=0)
            await self._store.kv_set(CHANGE_CURSOR_KEY, str(start))
        for change in todo:
            assert change.id is not None
            data = {"id": change.id, "service": change.service, "version": change.version, "to": self._target}
            try:
                await self._sender.send(change_json(change))
            except RetryableError as e:
                first = self._failing_since.setdefault(change.id, now)
                if now - first < FORWARD_RETRY_SECONDS:
                    metrics.CHANGES_FORWARDED.labels(self._target, "retry").inc()
                    log.warning("change %s not forwarded to %s yet: %s", change.id, self._target, e)
                    break   # keep the order: try this one again next round
                metrics.CHANGES_FORWARDED.labels(self._target, "failed").inc()
                await self._failed(data, f"gave up after {format_duration(now - first)}: {e}", now)
            except PermanentError as e:
                metrics.CHANGES_FORWARDED.labels(self._target, "failed").inc()
                await self._failed(data, str(e), now)
            else:
                metrics.CHANGES_FORWARDED.labels(self._target, "sent").inc()
                delivered += 1
                await self._store.append_event(Event(time=now, kind="change.forwarded", data=data))
            self._failing_since.pop(change.id, None)
            await self._store.kv_set(CHANGE_CURSOR_KEY, str(change.id))
        return delivered

    async def _failed(self, data: dict[str, Any], reason: str, now: float) -> None:
        log.warning("change %s not forwarded to %s: %s", data["id"], self._target, reason)
        await self._store.append_event(Event(time=now, kind="change.forward_failed", data={**data, "reason": reason}))

    async def close(self) -> None:
        await self._sender.close()


def change_forwarder(change_events: Any, *, store: Store, clock: Clock) -> ChangeForwarder | None:
    """The forwarder for the `change_events` config section, or None when nothing is configured."""
    pagerduty = getattr(change_events, "pagerduty", None) if change_events is not None else None
    if pagerduty is None:
        return None
    from watchdog.notify.pagerduty_changes import PagerdutyChangeSender

    return ChangeForwarder(PagerdutyChangeSender(pagerduty, clock=clock), store=store, clock=clock)
