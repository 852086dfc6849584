"""Fallback receivers: nothing is dropped silently.

- A notice its receiver gave up on (permanent error, or the retry deadline) goes to the
  receiver's `delivery.<name>.fallback` receivers, marked with why.
- A receiver whose breaker opens (it keeps failing) raises `WatchdogNotificationsFailing`
  through the same fallback list, and resolves it when the receiver accepts again; the state
  is the `watchdog_notify_receiver_failing` gauge and a timeline event.

Fallback notices use their own group key (`<group>|fallback:<receiver>`), so the notification
log of the original receiver stays what the dispatcher wrote; they keep the original notice's
dedup key (one PagerDuty incident whichever way it arrives).
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from typing import TYPE_CHECKING

from watchdog.model import Event
from watchdog.notify import metrics
from watchdog.notify.base import Notice, NoticeAlert
from watchdog.notify.delivery import FAILING_ALERTNAME
from watchdog.state.base import NotificationRecord

if TYPE_CHECKING:
    from watchdog.notify.outbox import Outbox
    from watchdog.notify.registry import Integration

log = logging.getLogger("watchdog.notify")

FALLBACK_MARK = "|fallback:"


def _record(notice: Notice, ikey: str, now: float) -> NotificationRecord:
    return NotificationRecord(
        group_key=notice.group_key, receiver=ikey, status=notice.status, sent_at=now, dedup_key=notice.dedup_key,
        firing_fingerprints=tuple(sorted(a.fingerprint for a in notice.firing())),
        resolved_fingerprints=tuple(sorted(a.fingerprint for a in notice.resolved())),
    )


def failing_alert(integ: "Integration", message: str, now: float, *, firing: bool, since: float) -> NoticeAlert:
    labels = {"alertname": FAILING_ALERTNAME, "receiver": integ.receiver, "integration": integ.integration,
              "severity": "critical"}
    fingerprint = hashlib.sha256(repr(sorted(labels.items()) + [("key", integ.key)]).encode()).hexdigest()[:16]
    return NoticeAlert(
        status="firing" if firing else "resolved", labels=labels,
        annotations={"summary": f"Notifications to receiver {integ.receiver} ({integ.integration}) keep failing",
                     "description": message[:500]},
        starts_at=since, ends_at=None if firing else now, generator_url="", fingerprint=fingerprint,
    )


class FallbackRouter:
    def __init__(self, outbox: "Outbox") -> None:
        self._outbox = outbox
        self._failing_since: dict[str, float] = {}

    def _targets(self, integ: "Integration", group_key: str) -> list["Integration"]:
        out = []
        for name in integ.policy.fallback:
            if name == integ.receiver or f"{FALLBACK_MARK}{name}" in group_key:
                continue   # never back to where it came from (a -> b -> a)
            out += self._outbox.integrations_of(name)
        return out

    async def _send(self, targets: list["Integration"], notice: Notice, now: float) -> None:
        for target in targets:
            await self._outbox.enqueue(target, dataclasses.replace(notice, receiver=target.receiver), _record(notice, target.key, now), now)

    async def reroute(self, integ: "Integration", notice: Notice, message: str, now: float) -> None:
        """The receiver gave up on `notice`: hand it to the fallback receivers."""
        group_key = f"{notice.group_key}{FALLBACK_MARK}{integ.receiver}"
        targets = self._targets(integ, group_key)
        if not targets:
            if not integ.policy.fallback:
                log.error("receiver %s gave up on a %s notice and has no fallback receiver", integ.receiver, notice.status)
            return
        reason = f"delivery to receiver {integ.receiver} ({integ.integration}) failed: {message[:300]}"
        moved = dataclasses.replace(notice, group_key=group_key, pinned_dedup_key=notice.dedup_key,
                                    reason="; ".join(p for p in (notice.reason, reason) if p))
        for name in {t.receiver for t in targets}:
            metrics.FALLBACKS.labels(integ.receiver, name).inc()
        await self._send(targets, moved, now)

    async def receiver_failing(self, integ: "Integration", message: str, now: float) -> None:
        metrics.RECEIVER_FAILING.labels(integ.receiver, integ.integration).set(1)
        self._failing_since[integ.key] = now
        log.error("receiver %s (%s) keeps failing; its breaker is open: %s", integ.receiver, integ.key, message)
        await self._outbox.store_event(Event(now, "notification.receiver_failing",
                                             {"receiver": integ.receiver, "integration": integ.key, "error": message}))
        await self._send_failing(integ, message, now, firing=True)

    async def receiver_recovered(self, integ: "Integration", now: float) -> None:
        metrics.RECEIVER_FAILING.labels(integ.receiver, integ.integration).set(0)
        log.info("receiver %s (%s) accepts notices again", integ.receiver, integ.key)
        await self._outbox.store_event(Event(now, "notification.receiver_recovered", {"receiver": integ.receiver, "integration": integ.key}))
        await self._send_failing(integ, "", now, firing=False)
        self._failing_since.pop(integ.key, None)

    async def _send_failing(self, integ: "Integration", message: str, now: float, *, firing: bool) -> None:
        group_key = f"watchdog:notifications-failing:{integ.key}"
        targets = self._targets(integ, group_key)
        if not targets:
            return
        alert = failing_alert(integ, message, now, firing=firing, since=self._failing_since.get(integ.key, now))
        notice = Notice.build(receiver=integ.receiver, group_key=group_key,
                              group_labels={"alertname": FAILING_ALERTNAME, "receiver": integ.receiver},
                              alerts=[alert], created_at=now)
        await self._send(targets, notice, now)
