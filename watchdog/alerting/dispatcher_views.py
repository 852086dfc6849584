"""The dispatcher's reports and summaries: the groups view for the API, flapping and storm notices.

A mixin of `watchdog.alerting.dispatcher.Dispatcher` (kept apart so each file stays small); it
uses the dispatcher's groups, integrations, controls, outbox and store.
"""

from __future__ import annotations

import logging
from typing import Any

from watchdog.alerting import damping
from watchdog.alerting.grouping import AlertGroup, is_firing
from watchdog.alerting.timeintervals import is_muted
from watchdog.model import Event
from watchdog.notify.base import Notice, NoticeAlert, dedup_key_for
from watchdog.state.base import NotificationRecord

log = logging.getLogger("watchdog.notify")

STORM_SUMMARY_MAX_ALERTS = 100    # a storm summary lists at most this many alerts


class DispatcherViews:
    def groups(self) -> list[dict[str, Any]]:
        """Current aggregation groups, for the API: alerts, receivers, escalation, ack, silenced/inhibited state."""
        now = self._clock.now()
        self._refresh_inhibitor()
        out = []
        for group in sorted(self._groups.values(), key=lambda g: g.key):
            receivers = self._group_receivers(group)
            integrations = [i for r in receivers for i in self._integrations.get(r, [])]
            ack = self._controls.ack_of(group.key, now)
            state = self._escalations.get(group.key)
            policy = self._policies.get(group.receiver)
            node = self._tree.node(group.route_key)
            out.append({
                "id": dedup_key_for(group.key),
                "key": group.key,
                "route": group.route_key,
                "labels": dict(group.labels),
                "receiver": group.receiver,
                "receivers": list(receivers),
                "next_flush_at": group.next_flush_at,
                "escalation": None if policy is None else {
                    "policy": policy.name, "level": state.level if state else -1,
                    "levels": len(policy.levels), "cycle": state.cycle if state else 0,
                    "started_at": state.started_at if state else None,
                },
                "acknowledged": None if ack is None else {
                    "by": ack.by, "comment": ack.comment, "at": ack.created_at, "expires_at": ack.expires_at},
                "muted": None if node is None else is_muted(node.mute_time_intervals, node.active_time_intervals, self._intervals, now),
                "alerts": [
                    {"labels": dict(a.labels), "annotations": dict(a.annotations), "state": "firing" if is_firing(a) else "resolved",
                     "fingerprint": a.fingerprint, "starts_at": a.fired_at if a.fired_at is not None else a.active_at,
                     "ends_at": a.resolved_at,
                     "silenced_by": self._controls.silenced_by(a.labels, now),
                     "inhibited": is_firing(a) and self._inhibitor.inhibited(a.labels)}
                    for a in sorted(group.alerts.values(), key=lambda a: tuple(a.labels))
                ],
                "notifications": [
                    {"integration": i.key, "status": rec.status, "sent_at": rec.sent_at}
                    for i in integrations
                    if (rec := self._outbox.delivered((group.key, i.key))) is not None
                ],
            })
        return out

    async def _flapping_changed(self, group: AlertGroup, flap: damping.FlapState, now: float) -> None:
        """Log and record a group starting or ending to flap (state changes only; the held notices are not logged)."""
        info = self._group_info(group)
        if flap.flapping:
            changes = sum(1 for t in flap.flips if t > now - self._flap_settings.window)
            kind, data = "alert.flapping", {**info, "changes": changes, "window": self._flap_settings.window,
                                            "quiet": self._flap_settings.quiet}
            log.warning("alert.flapping group=%s receiver=%s changes=%d window=%gs: notices held until stable for %gs",
                        group.key, group.receiver, changes, self._flap_settings.window, self._flap_settings.quiet)
        else:
            kind, data = "alert.flapping_ended", {**info, "quiet": self._flap_settings.quiet}
            log.info("alert.flapping_ended group=%s receiver=%s: stable for %gs, notices resume",
                     group.key, group.receiver, self._flap_settings.quiet)
        try:
            await self._store.append_event(Event(now, kind, data))
        except Exception as exc:  # the timeline failing must not stop the flush
            log.warning("could not record %s on the timeline: %s", kind, exc)

    def storms(self) -> list[dict[str, Any]]:
        """Recent alert storms (newest last), for the status API."""
        return list(self._storms)

    async def _send_storm_summaries(self, now: float) -> None:
        """One notice per receiver for the first notices a storm held back."""
        batches, groups = self._storm_batch, self._storm_groups
        self._storm_batch, self._storm_groups = {}, {}
        for receiver, alerts in batches.items():
            keys = sorted(set(groups.get(receiver, [])))
            storm_key = f"storm:{receiver}"
            reason = f"alert storm: {len(keys)} new alert groups within {self._storm_settings.window:g}s (summary instead of one page each)"
            self._storms = (self._storms + [{"at": now, "receiver": receiver, "groups": keys, "alerts": len(alerts)}])[-50:]
            shown = sorted(alerts, key=lambda a: tuple(a.labels))[:STORM_SUMMARY_MAX_ALERTS]
            notice = Notice.build(
                receiver=receiver, group_key=storm_key, group_labels={"storm": "true"},
                alerts=[NoticeAlert.from_alert(a, True) for a in shown],
                external_url=self._external_url, reason=reason, created_at=now,
            )
            for integ in self._integrations.get(receiver, []):
                record = NotificationRecord(group_key=storm_key, receiver=integ.key, status="firing", sent_at=now,
                                            dedup_key=dedup_key_for(f"{storm_key}:{now}"))
                await self._outbox.enqueue(integ, notice, record, now)
            await self._store.append_event(Event(now, "alert.storm", {"receiver": receiver, "groups": keys,
                                                                       "alerts": len(alerts)}))

