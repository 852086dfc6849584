"""Aggregation groups with Alertmanager's timing, as pure functions.

A group collects the alerts that share a route and the values of the route's
`group_by` labels. Timing (Alertmanager's dispatcher and DedupStage):
  - the first flush happens `group_wait` after the group was created (at once
    if its alerts have been firing longer than that already);
  - after that the group is flushed every `group_interval`; a flush sends only
    if something changed since the last notice to that integration (a new
    firing alert, or, with `send_resolved`, a newly resolved one; or all
    alerts resolved), or if `repeat_interval` passed since the last notice;
  - resolved alerts leave the group once a flush has carried them.
What was last sent comes from the notification log (the Store), so a restart
or a reload never resends an unchanged group before `repeat_interval`.

Nothing here does I/O or reads a clock: `now` is an argument.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from watchdog.model import Alert, AlertState, Labels
from watchdog.state.base import NotificationRecord

GROUP_BY_ALL = "..."

DEFAULT_GROUP_WAIT = 30.0
DEFAULT_GROUP_INTERVAL = 300.0
DEFAULT_REPEAT_INTERVAL = 4 * 3600.0


@dataclass(frozen=True, slots=True)
class GroupTiming:
    group_wait: float = DEFAULT_GROUP_WAIT
    group_interval: float = DEFAULT_GROUP_INTERVAL
    repeat_interval: float = DEFAULT_REPEAT_INTERVAL


@dataclass(frozen=True, slots=True)
class RouteTarget:
    """Where a matching route sends an alert: the routing layer's answer for one alert.

    `route_key` identifies the route in the tree ("{}" is the root, as in
    Alertmanager); the route tree returns one target per matching route.
    """

    route_key: str
    receiver: str
    group_by: tuple[str, ...]
    timing: GroupTiming


def group_labels_for(labels: Labels, group_by: Sequence[str]) -> Labels:
    """The labels that name the group: `group_by` names, or every label for `...`."""
    if GROUP_BY_ALL in group_by:
        return labels
    return labels.only(*group_by)


def _go_quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


def label_set_string(labels: Mapping[str, str] | Labels) -> str:
    """Alertmanager's LabelSet.String(): `{a="1", b="2"}`, names sorted."""
    items = sorted(dict(labels).items())
    return "{" + ", ".join(f"{k}={_go_quote(v)}" for k, v in items) + "}"


def group_key(route_key: str, group_labels: Labels) -> str:
    """Alertmanager's group key: `<route key>:<group labels>`, e.g. `{}:{alertname="X"}`."""
    return f"{route_key}:{label_set_string(group_labels)}"


def is_firing(alert: Alert) -> bool:
    return alert.state is AlertState.FIRING and alert.resolved_at is None


def alert_start(alert: Alert) -> float:
    return alert.fired_at if alert.fired_at is not None else alert.active_at


@dataclass(frozen=True, slots=True)
class AlertGroup:
    """One aggregation group. Replace, never mutate: every change returns a new value."""

    key: str
    route_key: str
    labels: Labels
    receiver: str
    timing: GroupTiming
    alerts: Mapping[str, Alert]          # fingerprint -> newest version of the alert
    created_at: float
    next_flush_at: float
    has_flushed: bool = False
    last_seen: Mapping[str, float] = dataclasses.field(default_factory=dict)  # fingerprint -> last report
    # fingerprint -> the report's own end (Alertmanager's endsAt from POST /api/v2/alerts), when it gave one
    valid_until: Mapping[str, float] = dataclasses.field(default_factory=dict)

    def firing(self) -> list[Alert]:
        return [a for a in self.alerts.values() if is_firing(a)]

    def resolved(self) -> list[Alert]:
        return [a for a in self.alerts.values() if not is_firing(a)]


def new_group(target: RouteTarget, labels: Labels, now: float) -> AlertGroup:
    g_labels = group_labels_for(labels, target.group_by)
    return AlertGroup(
        key=group_key(target.route_key, g_labels),
        route_key=target.route_key,
        labels=g_labels,
        receiver=target.receiver,
        timing=target.timing,
        alerts={},
        created_at=now,
        next_flush_at=now + target.timing.group_wait,
    )


def resolve_alert(alert: Alert, now: float) -> Alert:
    return dataclasses.replace(alert, state=AlertState.RESOLVED, resolved_at=now)


def merge_alerts(group: AlertGroup, alerts: Iterable[Alert], now: float,
                 valid_until: Mapping[str, float] | None = None) -> AlertGroup:
    """Insert or update alerts (each report refreshes the alert's last-seen time).

    `valid_until` (fingerprint -> time) is the end a report itself announced
    (Alertmanager's `endsAt`): a firing alert not refreshed by then resolves
    then, instead of `resolve_timeout` after its last report.
    A firing alert that has been active for longer than `group_wait` pulls the
    first flush forward to `now` (Alertmanager does the same).
    """
    merged = dict(group.alerts)
    seen = dict(group.last_seen)
    until = dict(group.valid_until)
    next_flush = group.next_flush_at
    for alert in alerts:
        fp = alert.fingerprint
        merged[fp] = alert
        seen[fp] = now
        if valid_until is not None and fp in valid_until:
            until[fp] = valid_until[fp]
        else:
            until.pop(fp, None)
        if not group.has_flushed and is_firing(alert) and alert_start(alert) + group.timing.group_wait <= now:
            next_flush = min(next_flush, now)
    return dataclasses.replace(group, alerts=merged, last_seen=seen, valid_until=until, next_flush_at=next_flush)


def expire_unrefreshed(group: AlertGroup, now: float, resolve_timeout: float) -> AlertGroup:
    """Resolve firing alerts nobody reported for `resolve_timeout` (Alertmanager's resolve_timeout).

    The rule engine reports resolved alerts itself; this is the safety net for a
    source that stops reporting (a deleted rule, a Prometheus that went away).
    """
    def end(fp: str) -> float:
        if fp in group.valid_until:
            return group.valid_until[fp]
        return group.last_seen.get(fp, group.created_at) + resolve_timeout

    stale = [fp for fp, a in group.alerts.items() if is_firing(a) and end(fp) <= now]
    if not stale:
        return group
    merged = dict(group.alerts)
    for fp in stale:
        # Resolved at its announced end (Alertmanager's endsAt), not at the flush that noticed it.
        merged[fp] = resolve_alert(merged[fp], min(now, group.valid_until.get(fp, now)))
    return dataclasses.replace(group, alerts=merged)


def is_due(group: AlertGroup, now: float) -> bool:
    return group.next_flush_at <= now


def flush(group: AlertGroup, now: float) -> tuple[AlertGroup, list[Alert]]:
    """Take the flush snapshot (every alert, firing and resolved) and schedule the next flush."""
    snapshot = sorted(group.alerts.values(), key=lambda a: tuple(a.labels))
    return dataclasses.replace(group, next_flush_at=now + group.timing.group_interval, has_flushed=True), snapshot


def drop_flushed_resolved(group: AlertGroup, flushed: Sequence[Alert]) -> AlertGroup:
    """Remove resolved alerts that the flush carried, unless they changed since (fired again)."""
    merged = dict(group.alerts)
    for alert in flushed:
        if is_firing(alert):
            continue
        current = merged.get(alert.fingerprint)
        if current is not None and current == alert:
            del merged[alert.fingerprint]
    seen = {fp: t for fp, t in group.last_seen.items() if fp in merged}
    until = {fp: t for fp, t in group.valid_until.items() if fp in merged}
    return dataclasses.replace(group, alerts=merged, last_seen=seen, valid_until=until)


def fingerprints(alerts: Iterable[Alert]) -> tuple[str, ...]:
    return tuple(sorted(a.fingerprint for a in alerts))


def needs_update(
    last: NotificationRecord | None,
    firing: Sequence[str],
    resolved: Sequence[str],
    *,
    send_resolved: bool,
    repeat_interval: float,
    now: float,
) -> bool:
    """Alertmanager's DedupStage.needsUpdate over the notification log entry `last`."""
    firing_set, resolved_set = set(firing), set(resolved)
    if last is None:
        return bool(firing_set)
    if not firing_set <= set(last.firing_fingerprints):
        return True
    if not firing_set:
        # All resolved: notify (irrespective of send_resolved, so the log forgets the
        # firing alerts) unless the receiver never heard of any of them.
        return bool(last.firing_fingerprints)
    if send_resolved and not resolved_set <= set(last.resolved_fingerprints):
        return True
    return last.sent_at <= now - repeat_interval


def notice_status(alerts: Iterable[Alert]) -> str:
    return "firing" if any(is_firing(a) for a in alerts) else "resolved"
