"""The Notifier protocol and the Notice every notifier receives.

Notifiers only deliver (Alertmanager's notify package): `send()` returns when
the channel accepted the notice, or raises RetryableError / PermanentError.
Retries, dedup, the outbox and metrics are the dispatcher's job.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from datetime import datetime, timezone
from typing import Any, Mapping, Protocol, Sequence, runtime_checkable

from watchdog.model import Alert

GO_ZERO_TIME = "0001-01-01T00:00:00Z"


class NotifyError(Exception):
    """Base of delivery failures. `reason` is a short, bounded metric label value."""

    reason = "other"

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        if reason is not None:
            self.reason = reason


class RetryableError(NotifyError):
    """Try again later (5xx, 429, network error, timeout). `retry_after` in seconds when the channel said."""

    def __init__(self, message: str, retry_after: float | None = None, *, reason: str | None = None) -> None:
        super().__init__(message, reason=reason)
        self.retry_after = retry_after


class PermanentError(NotifyError):
    """Retrying cannot help (4xx other than 429, bad config)."""

    reason = "client_error"


def rfc3339(t: float | None) -> str:
    """Go's RFC3339Nano as Alertmanager emits it (UTC, trailing zeros trimmed); None is Go's zero time."""
    if t is None:
        return GO_ZERO_TIME
    dt = datetime.fromtimestamp(t, timezone.utc)
    text = dt.strftime("%Y-%m-%dT%H:%M:%S")
    if dt.microsecond:
        text += ("." + f"{dt.microsecond:06d}").rstrip("0")
    return text + "Z"


@dataclass(frozen=True, slots=True)
class NoticeAlert:
    """One alert as a notice carries it (JSON-friendly, survives the outbox)."""

    status: str                      # firing | resolved
    labels: Mapping[str, str]
    annotations: Mapping[str, str]
    starts_at: float
    ends_at: float | None            # None while firing
    generator_url: str
    fingerprint: str

    @classmethod
    def from_alert(cls, alert: Alert, firing: bool) -> "NoticeAlert":
        start = alert.fired_at if alert.fired_at is not None else alert.active_at
        return cls(
            status="firing" if firing else "resolved",
            labels=dict(alert.labels),
            annotations=dict(alert.annotations),
            starts_at=start,
            ends_at=None if firing else alert.resolved_at,
            generator_url=alert.generator_url,
            fingerprint=alert.fingerprint,
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            "status": self.status,
            "labels": dict(self.labels),
            "annotations": dict(self.annotations),
            "starts_at": self.starts_at,
            "ends_at": self.ends_at,
            "generator_url": self.generator_url,
            "fingerprint": self.fingerprint,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "NoticeAlert":
        return cls(
            status=d["status"],
            labels=dict(d["labels"]),
            annotations=dict(d["annotations"]),
            starts_at=float(d["starts_at"]),
            ends_at=None if d.get("ends_at") is None else float(d["ends_at"]),
            generator_url=d.get("generator_url", ""),
            fingerprint=d["fingerprint"],
        )


def dedup_key_for(group_key: str) -> str:
    """SHA-256 hex of the group key: stable across restarts and replicas (PagerDuty's dedup_key)."""
    return hashlib.sha256(group_key.encode()).hexdigest()


def _common(maps: Sequence[Mapping[str, str]]) -> dict[str, str]:
    if not maps:
        return {}
    first = maps[0]
    return {k: v for k, v in first.items() if all(m.get(k) == v for m in maps[1:])}


@dataclass(frozen=True, slots=True)
class Notice:
    """What one integration is asked to deliver for one group at one moment."""

    receiver: str
    group_key: str
    group_labels: Mapping[str, str]
    status: str                      # firing | resolved
    alerts: tuple[NoticeAlert, ...]  # firing and resolved, sorted by labels
    external_url: str = ""
    truncated: int = 0               # alerts left out before the notifier saw them
    reason: str = ""                 # why it was sent out of schedule (e.g. remediation failed)
    created_at: float = 0.0
    common_labels: Mapping[str, str] = field(default_factory=dict)
    common_annotations: Mapping[str, str] = field(default_factory=dict)
    acknowledged: bool = False       # the group is acknowledged here (PagerDuty: event_action acknowledge)
    pinned_dedup_key: str = ""       # the key an earlier firing notice used (kept across reloads)

    @classmethod
    def build(
        cls,
        *,
        receiver: str,
        group_key: str,
        group_labels: Mapping[str, str],
        alerts: Sequence[NoticeAlert],
        external_url: str = "",
        reason: str = "",
        created_at: float = 0.0,
        acknowledged: bool = False,
        pinned_dedup_key: str = "",
    ) -> "Notice":
        status = "firing" if any(a.status == "firing" for a in alerts) else "resolved"
        return cls(
            receiver=receiver,
            group_key=group_key,
            group_labels=dict(group_labels),
            status=status,
            alerts=tuple(alerts),
            external_url=external_url,
            reason=reason,
            created_at=created_at,
            common_labels=_common([a.labels for a in alerts]),
            common_annotations=_common([a.annotations for a in alerts]),
            acknowledged=acknowledged,
            pinned_dedup_key=pinned_dedup_key,
        )

    @property
    def dedup_key(self) -> str:
        return self.pinned_dedup_key or dedup_key_for(self.group_key)

    def firing(self) -> list[NoticeAlert]:
        return [a for a in self.alerts if a.status == "firing"]

    def resolved(self) -> list[NoticeAlert]:
        return [a for a in self.alerts if a.status != "firing"]

    def to_dict(self) -> dict[str, Any]:
        return {
            "receiver": self.receiver,
            "group_key": self.group_key,
            "group_labels": dict(self.group_labels),
            "status": self.status,
            "alerts": [a.to_dict() for a in self.alerts],
            "external_url": self.external_url,
            "truncated": self.truncated,
            "reason": self.reason,
            "created_at": self.created_at,
            "common_labels": dict(self.common_labels),
            "common_annotations": dict(self.common_annotations),
            "acknowledged": self.acknowledged,
            "pinned_dedup_key": self.pinned_dedup_key,
        }

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> "Notice":
        return cls(
            receiver=d["receiver"],
            group_key=d["group_key"],
            group_labels=dict(d["group_labels"]),
            status=d["status"],
            alerts=tuple(NoticeAlert.from_dict(a) for a in d["alerts"]),
            external_url=d.get("external_url", ""),
            truncated=int(d.get("truncated", 0)),
            reason=d.get("reason", ""),
            created_at=float(d.get("created_at", 0.0)),
            common_labels=dict(d.get("common_labels", {})),
            common_annotations=dict(d.get("common_annotations", {})),
            acknowledged=bool(d.get("acknowledged", False)),
            pinned_dedup_key=str(d.get("pinned_dedup_key", "")),
        )


@runtime_checkable
class Notifier(Protocol):
    """One configured integration of one receiver (e.g. the first webhook_configs entry)."""

    integration: str                 # "webhook", "log", "slack", "email", "pagerduty", "alertmanager"
    send_resolved: bool

    async def send(self, notice: Notice) -> None:
        """Deliver; raise RetryableError or PermanentError when the channel did not accept it."""

    async def close(self) -> None:
        """Release connections (called on shutdown and after a reload replaced it)."""
