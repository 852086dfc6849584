"""The dispatcher's control surface: silences, acks, and the questions the remediator asks.

A mixin of `watchdog.alerting.dispatcher.Dispatcher` (kept apart so each file
stays small); it uses the dispatcher's groups, router, controls and store.
Reads are synchronous and in memory; changes write through to the Store.
"""

from __future__ import annotations

import dataclasses
import json
import logging
from typing import Any, Mapping, Sequence

from watchdog.alerting.grouping import AlertGroup, group_key, group_labels_for
from watchdog.alerting.timeintervals import is_muted
from watchdog.model import Labels
from watchdog.notify.base import dedup_key_for
from watchdog.notify.acks import enqueue_ack_notices

log = logging.getLogger("watchdog.alerting")

# the store's kv key holding the dedup-key log: {"version": 1, "keys": {dedup_key:
# {"group_key", "fingerprints", "at" (last firing notice)}}}
DEDUP_LOG_KV_KEY = "dispatcher:dedup_keys"
DEFAULT_DEDUP_RETENTION = 30 * 86400.0   # storage.retention's default: the notification log's lifetime


class DispatcherControls:
    _groups: dict[str, AlertGroup]
    _external_labels: dict[str, str]
    _dedup_log: dict[str, tuple[str, frozenset[str]]]
    _dedup_seen: dict[str, float]
    _dedup_dirty: bool
    _dedup_retention: float

    # -- questions the remediator and the API ask (synchronous, in memory) ------------------
    def _labels(self, labels: Labels | Mapping[str, str]) -> Labels:
        labels = labels if isinstance(labels, Labels) else Labels.of(dict(labels))
        missing = {k: v for k, v in self._external_labels.items() if k not in labels}
        return labels.merged(missing) if missing else labels

    def group_keys_for(self, labels: Labels | Mapping[str, str]) -> list[str]:
        full = self._labels(labels)
        return [group_key(t.route_key, group_labels_for(full, t.group_by)) for t in self._router(full)]

    def is_silenced(self, labels: Labels | Mapping[str, str]) -> bool:
        return bool(self._controls.silenced_by(self._labels(labels), self._clock.now()))

    def is_inhibited(self, labels: Labels | Mapping[str, str]) -> bool:
        self._refresh_inhibitor()
        return self._inhibitor.inhibited(self._labels(labels))

    def is_acknowledged(self, labels: Labels | Mapping[str, str]) -> bool:
        """True when any group the alert belongs to is acknowledged (automatic remediation pauses)."""
        now = self._clock.now()
        return any(self._controls.ack_of(k, now) is not None for k in self.group_keys_for(labels))

    def is_time_muted(self, labels: Labels | Mapping[str, str]) -> bool:
        """True when every route the alert matches is muted now by its time intervals.

        As in Alertmanager (which marks such alerts suppressed, `mutedBy` the interval): a route in a
        `mute_time_intervals` entry, or outside all of its `active_time_intervals`, tells nobody. An
        alert that still reaches one unmuted route is not muted (someone is told).
        """
        now = self._clock.now()
        nodes = [self._tree.node(t.route_key) for t in self._router(self._labels(labels))]
        return bool(nodes) and all(
            n is not None and is_muted(n.mute_time_intervals, n.active_time_intervals, self._intervals, now) for n in nodes)

    def is_muted(self, alert: Any) -> bool:
        """Silenced, inhibited, or muted by time intervals (the Remediator's `is_muted` hook, which
        skips such alerts unless the spec says `when_silenced: run`); takes an Alert or labels.

        A time-muted alert counts: nobody would hear of the action or of its failure, which is what
        `when_silenced: skip` protects against (a maintenance window is often a `mute_time_intervals`).
        """
        labels = getattr(alert, "labels", alert)
        return self.is_silenced(labels) or self.is_inhibited(labels) or self.is_time_muted(labels)

    def find_group(self, ref: str) -> AlertGroup | None:
        """A group by id (the dedup key), a unique id prefix of 8+ characters, or its exact key.

        A channel's ack (PagerDuty incident, Slack button) carries the dedup key the firing notice had.
        When a reload changed the group's key since (in this run or before a restart: the log of
        dedup keys is kept in the store), that key is found in that log and leads to the group that inherited its alerts (the one that routes them now); a group a reload
        left behind only waits for its alerts' resolution, so it is never the answer while an heir exists.
        """
        group = self._current_group(ref)
        if group is not None and any(self._routed_here(group, a) for a in group.alerts.values()):
            return group
        return self._heir_of(ref) or group

    def _current_group(self, ref: str) -> AlertGroup | None:
        if ref in self._groups:
            return self._groups[ref]
        found = [g for g in self._groups.values() if dedup_key_for(g.key) == ref]
        if not found and len(ref) >= 8:
            found = [g for g in self._groups.values() if dedup_key_for(g.key).startswith(ref)]
        return found[0] if len(found) == 1 else None

    def _heir_of(self, ref: str) -> AlertGroup | None:
        """The one current group that routes the alerts once notified under dedup key `ref` (None: none or several)."""
        keys = [k for k in self._dedup_log if k == ref] or ([k for k in self._dedup_log if k.startswith(ref)] if len(ref) >= 8 else [])
        if len(keys) != 1:
            return None
        old_key, told = self._dedup_log[keys[0]]
        heirs = [g for g in self._groups.values() if g.key != old_key
                 and any(fp in told and self._routed_here(g, a) for fp, a in g.alerts.items())]
        return heirs[0] if len(heirs) == 1 else None

    def _remember_dedup_key(self, dedup_key: str, group_key: str, firing: Sequence[str], now: float) -> None:
        _, known = self._dedup_log.get(dedup_key, (group_key, frozenset()))
        self._dedup_log[dedup_key] = (group_key, known | frozenset(firing))
        self._dedup_seen[dedup_key] = now
        self._dedup_dirty = True

    def _forget_old_dedup_keys(self, now: float) -> None:
        """Keep the dedup-key log bounded like the notification log: a key whose last firing notice is
        older than the retention, and none of whose alerts is in a group any more, cannot be acked.
        (Unreachable alone is not enough: right after a restart the groups are empty until the rules
        report their alerts again, and the log must still be there then.)"""
        if not self._dedup_log:
            return
        horizon = now - self._dedup_retention
        present = {fp for g in self._groups.values() for fp in g.alerts}
        gone = [k for k, (_, told) in self._dedup_log.items()
                if self._dedup_seen.get(k, now) < horizon and not (told & present)]
        for key in gone:
            del self._dedup_log[key]
            self._dedup_seen.pop(key, None)
        if gone:
            self._dedup_dirty = True

    async def _save_dedup_log(self) -> None:
        """Write the log through to the store's kv table (one key: the Store has no prefix listing)."""
        if not self._dedup_dirty:
            return
        self._dedup_dirty = False
        entries = {k: {"group_key": g, "fingerprints": sorted(fps), "at": self._dedup_seen.get(k, 0.0)}
                   for k, (g, fps) in self._dedup_log.items()}
        try:
            await self._store.kv_set(DEDUP_LOG_KV_KEY, json.dumps({"version": 1, "keys": entries}, sort_keys=True))
        except Exception:
            self._dedup_dirty = True   # tried again after the next firing notice or prune
            log.exception("could not persist the dedup-key log")

    async def _load_dedup_log(self) -> None:
        """At start: the keys earlier runs notified under (a bad stored value is logged and ignored)."""
        try:
            raw = await self._store.kv_get(DEDUP_LOG_KV_KEY)
            if raw is None:
                return
            for key, entry in json.loads(raw)["keys"].items():
                if key in self._dedup_log or not isinstance(entry, dict):
                    continue   # this run's own knowledge is newer
                self._dedup_log[str(key)] = (str(entry["group_key"]), frozenset(str(fp) for fp in entry["fingerprints"]))
                self._dedup_seen[str(key)] = float(entry.get("at", 0.0))
        except Exception as e:
            log.warning("ignoring the stored dedup-key log (%s): channel acks of keys a reload retired "
                        "before this start will find no group", type(e).__name__)

    # -- silences and acks (the API's mutating calls) ---------------------------------------
    def silences(self) -> list[dict[str, Any]]:
        now = self._clock.now()
        return [s.to_json(now) for s in self._controls.silences.all()]

    async def add_silence(self, matchers: Sequence[str], starts_at: float, ends_at: float, created_by: str,
                          comment: str, silence_id: str | None = None) -> dict[str, Any]:
        """Raises watchdog.alerting.silences.SilenceError with a message for the client."""
        await self._ensure_loaded()
        now = self._clock.now()
        silence = await self._controls.add_silence(matchers, starts_at, ends_at, created_by, comment, now, silence_id)
        self._wake.set()
        return silence.to_json(now)

    async def expire_silence(self, silence_id: str) -> dict[str, Any]:
        await self._ensure_loaded()
        now = self._clock.now()
        silence = await self._controls.expire_silence(silence_id, now)
        self._wake.set()   # alerts it held go out at their group's next flush
        return silence.to_json(now)

    async def acknowledge(self, ref: str, by: str, comment: str = "", expires_at: float | None = None) -> dict[str, Any] | None:
        """Acknowledge a group (None when no such group). Raises controls.AckError on bad input."""
        await self._ensure_loaded()
        group = self.find_group(ref)
        if group is None:
            return None
        now = self._clock.now()
        await self._controls.acknowledge(group.key, by, comment, now, expires_at, self._group_info(group))
        await self._pause_escalation(group.key, now, paused=True)
        # PagerDuty (issue 6): the channel's own incident is acknowledged too, so its escalation stops.
        await enqueue_ack_notices(self._outbox, [i for r in self._group_receivers(group) for i in self._integrations.get(r, [])],
                                  group.key, dict(group.labels), group.alerts.values(), self._external_url, now)
        self._wake.set()
        return next(g for g in self.groups() if g["key"] == group.key)

    async def unacknowledge(self, ref: str, by: str = "") -> bool | None:
        """Remove a group's ack; None when no such group, False when it was not acknowledged."""
        await self._ensure_loaded()
        group = self.find_group(ref)
        if group is None:
            return None
        now = self._clock.now()
        removed = await self._controls.unacknowledge(group.key, now, self._group_info(group), by=by)
        await self._pause_escalation(group.key, now, paused=False)
        self._wake.set()
        return removed

    async def _pause_escalation(self, key: str, now: float, *, paused: bool) -> None:
        """An ack stops the escalation clock at once; removing it restarts the clock where it stopped."""
        state = self._escalations.get(key)
        if state is None or (state.paused_at is not None) == paused:
            return
        if paused:
            state = dataclasses.replace(state, paused_at=now)
        else:
            state = dataclasses.replace(state, started_at=state.started_at + (now - state.paused_at), paused_at=None)
        self._escalations[key] = state
        await self._store.save_group_state(key, state.to_dict())

    def _group_info(self, group: AlertGroup) -> dict[str, Any]:
        return {"group_id": dedup_key_for(group.key), "group_key": group.key, "labels": dict(group.labels),
                "receiver": group.receiver}
