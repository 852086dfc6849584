"""Acks made here reach the channels that keep their own incident state (PagerDuty).

When a group is acknowledged (API, CLI, Slack button, PagerDuty webhook), each integration of
an ack-aware kind that was told the group is firing gets one notice with `acknowledged=True`
(PagerDuty: `event_action: acknowledge` on the dedup key of the firing notice it got), so the
channel's escalation stops instead of paging the next person. It goes through the outbox like
any notice: durable, retried, logged.

Integrations with a firing notice still queued are skipped: the trigger must reach the
channel first, and an acknowledge for an incident the channel does not know is meaningless.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Iterable, Sequence

from watchdog.alerting.grouping import is_firing
from watchdog.model import Alert
from watchdog.notify.base import Notice, NoticeAlert

ACK_AWARE_INTEGRATIONS = frozenset({"pagerduty"})
ACK_REASON = "acknowledged"


async def enqueue_ack_notices(outbox: Any, integrations: Sequence[Any], group_key: str, group_labels: dict[str, str],
                              alerts: Iterable[Alert], external_url: str, now: float) -> list[str]:
    """Queue the acknowledge notices; returns the integration keys that got one."""
    firing = [a for a in alerts if is_firing(a)]
    queued: list[str] = []
    for integ in integrations:
        if integ.integration not in ACK_AWARE_INTEGRATIONS:
            continue
        k = (group_key, integ.key)
        if outbox.has_pending(k):
            continue
        last = await outbox.last_delivered(k)
        if last is None or last.status != "firing" or not last.firing_fingerprints:
            continue
        told = [a for a in firing if a.fingerprint in set(last.firing_fingerprints)]
        if not told:
            continue
        notice = Notice.build(
            receiver=integ.receiver, group_key=group_key, group_labels=dict(group_labels),
            alerts=[NoticeAlert.from_alert(a, True) for a in sorted(told, key=lambda a: tuple(a.labels))],
            external_url=external_url, reason=ACK_REASON, created_at=now, acknowledged=True,
            pinned_dedup_key=last.dedup_key,
        )
        # The log keeps what the channel knows of the group (same alerts); only the time moves.
        await outbox.enqueue(integ, notice, dataclasses.replace(last, sent_at=now), now)
        queued.append(integ.key)
    return queued
