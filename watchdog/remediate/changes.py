"""Change (deploy) events and change-aware remediation.

A deploy pipeline records a change (`POST /api/v1/changes`, `watchdog change
record`); it is stored and put on the timeline as `change.recorded`. A spec
with `requires_change: {within, same}` runs only when a change whose `same`
labels equal the alert's landed within `within` before the alert started;
its templates then see that change as `$change`. Matching is pure.
"""

from __future__ import annotations

import re
from typing import Any, Mapping, Sequence

from watchdog.clock import Clock
from watchdog.durations import format_duration
from watchdog.model import Event
from watchdog.remediate.spec import RequiresChange
from watchdog.state.base import ChangeRecord, Store

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
