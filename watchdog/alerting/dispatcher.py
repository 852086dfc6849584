"""The dispatcher: alerts -> routes -> aggregation groups -> notices -> outbox -> notifiers.

The decisions (grouping, waits, repeats, dedup) are the pure functions of
`watchdog.alerting.grouping`; this class holds the state, talks to the Store
and runs the flush/delivery loop on the injected clock.

Delivery (outbox first, retries, the notification log, timeline events) is
`watchdog.notify.outbox.Outbox`.

Routing in this issue is the root route only (`root_router`); the route tree
replaces it by providing another `Router` (labels -> list[RouteTarget]).
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Any, Callable, Mapping, Sequence

from watchdog.alerting.grouping import (
    AlertGroup,
    GroupTiming,
    RouteTarget,
    drop_flushed_resolved,
    expire_unrefreshed,
    fingerprints,
    flush,
    group_key,
    group_labels_for,
    is_due,
    is_firing,
    merge_alerts,
    needs_update,
    new_group,
    notice_status,
)
from watchdog.clock import Clock
from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.base import Notice, NoticeAlert, dedup_key_for
from watchdog.notify.outbox import DEFAULT_RETRY_DEADLINE, Outbox
from watchdog.notify.registry import Integration, build_integrations
from watchdog.state.base import NotificationRecord, Store

log = logging.getLogger("watchdog.notify")

Router = Callable[[Labels], list[RouteTarget]]

DEFAULT_RESOLVE_TIMEOUT = 300.0   # Alertmanager's global.resolve_timeout
MAX_IDLE_WAIT = 60.0              # the loop re-checks at least this often
RESOLVED_MEMORY = 3600.0          # how long we remember resolved alerts already carried


def _seconds(value: Any, default: float) -> float:
    return default if value is None else float(value)


def root_router(alerting: Any) -> Router:
    """Every alert goes to the root route's receiver (this issue's routing)."""
    route = alerting.route
    target = RouteTarget(
        route_key="{}",
        receiver=route.receiver,
        group_by=tuple(getattr(route, "group_by", None) or ()),
        timing=GroupTiming(
            group_wait=_seconds(getattr(route, "group_wait", None), 30.0),
            group_interval=_seconds(getattr(route, "group_interval", None), 300.0),
            repeat_interval=_seconds(getattr(route, "repeat_interval", None), 4 * 3600.0),
        ),
    )
    return lambda labels: [target]


class Dispatcher:
    def __init__(
        self,
        alerting: Any,
        *,
        store: Store,
        clock: Clock,
        external_url: str = "",
        external_labels: Mapping[str, str] | None = None,
        rng: random.Random | None = None,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        router: Router | None = None,
    ) -> None:
        self._clock = clock
        self._external_url = external_url
        self._external_labels = dict(external_labels or {})
        self._wake = asyncio.Event()
        self._outbox = Outbox(store=store, clock=clock, rng=rng, retry_deadline=retry_deadline, wake=self._wake.set)
        self._groups: dict[str, AlertGroup] = {}
        self._carried_resolved: dict[str, float] = {}       # fingerprint -> resolved_at already flushed
        self._integrations: dict[str, list[Integration]] = {}
        self._retired: list[Integration] = []
        self._custom_router = router
        self.update_config(alerting)

    # -- configuration ------------------------------------------------------
    def update_config(self, alerting: Any, router: Router | None = None) -> None:
        """Swap in a new alerting config. Builds everything first; raises without changing anything on error.

        Groups carry over by key; groups of a route that still exists take its new timing and receiver.
        """
        integrations = {r.name: build_integrations(r, clock=self._clock) for r in alerting.receivers}
        new_router = router or self._custom_router or root_router(alerting)
        self._retired.extend(i for lst in self._integrations.values() for i in lst)
        self._alerting = alerting
        global_ = getattr(alerting, "global_", None)
        self._resolve_timeout = _seconds(getattr(global_, "resolve_timeout", None), DEFAULT_RESOLVE_TIMEOUT)
        self._router = new_router
        self._integrations = integrations
        self._outbox.set_integrations({i.key: i for lst in integrations.values() for i in lst})
        for key, group in list(self._groups.items()):
            for target in self._router(group.labels):
                if target.route_key == group.route_key:
                    self._groups[key] = dataclasses.replace(group, receiver=target.receiver, timing=target.timing)
                    break
        self._wake.set()

    # -- intake ---------------------------------------------------------------
    def _with_external_labels(self, alert: Alert) -> Alert:
        missing = {k: v for k, v in self._external_labels.items() if k not in alert.labels}
        return dataclasses.replace(alert, labels=alert.labels.merged(missing)) if missing else alert

    def _group_for(self, target: RouteTarget, labels: Labels, now: float) -> AlertGroup:
        key = group_key(target.route_key, group_labels_for(labels, target.group_by))
        group = self._groups.get(key)
        if group is None:
            group = self._groups[key] = new_group(target, labels, now)
        return group

    async def on_alerts(self, alerts: Sequence[Alert], t: float) -> None:
        """Take current alerts: firing and resolved ones (pending and inactive are ignored).

        Called after every rule-evaluation round (and later by /api/v2/alerts).
        The lists may be partial (one rule group at a time): an alert missing
        from a call is not resolved by it; a firing alert that nobody reports
        for `global.resolve_timeout` is resolved (Alertmanager's rule).
        """
        await self._ensure_loaded()
        by_group: dict[str, list[Alert]] = {}
        for raw in alerts:
            if raw.state not in (AlertState.FIRING, AlertState.RESOLVED):
                continue
            alert = self._with_external_labels(raw)
            if not is_firing(alert) and self._carried_resolved.get(alert.fingerprint) == alert.resolved_at:
                continue  # already carried by a flush; rules keep reporting resolved alerts for a while
            for target in self._router(alert.labels):
                by_group.setdefault(self._group_for(target, alert.labels, t).key, []).append(alert)
        for key, batch in by_group.items():
            self._groups[key] = merge_alerts(self._groups[key], batch, t)
        self._wake.set()

    async def notify_now(self, alerts: Sequence[Alert], reason: str) -> None:
        """Send one notice at once to the groups' receivers, whatever the group/repeat intervals say."""
        await self._ensure_loaded()
        now = self._clock.now()
        touched: list[str] = []
        for raw in alerts:
            alert = self._with_external_labels(raw)
            for target in self._router(alert.labels):
                group = self._group_for(target, alert.labels, now)
                self._groups[group.key] = merge_alerts(group, [alert], now)
                if group.key not in touched:
                    touched.append(group.key)
        for key in touched:
            group = self._groups[key]
            snapshot = sorted(group.alerts.values(), key=lambda a: tuple(a.labels))
            await self._dispatch_group(group, snapshot, now, reason=reason, force=True)
        self._wake.set()

    # -- the loop -------------------------------------------------------------
    async def run(self) -> None:
        """Flush due groups and deliver due outbox items until cancelled."""
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                delay_floor = 0.0
                try:
                    await self._ensure_loaded()
                    await self._tick(now)
                except Exception:  # a store hiccup must not end the loop, nor spin it
                    log.exception("notification dispatcher tick failed")
                    delay_floor = 1.0
                await self._wait(max(delay_floor, self._next_wake(now) - now))
        finally:
            await self._outbox.cancel_inflight()

    async def process_due(self) -> None:
        """One deterministic step at the clock's now: flush due groups, deliver due notices, wait for the attempts.

        `watchdog test scenario` and tests drive the dispatcher with this instead of run().
        """
        await self._ensure_loaded()
        now = self._clock.now()
        await self._tick(now)
        await self._outbox.wait_idle(now)

    async def drain(self, timeout: float) -> int:
        """On shutdown: flush what is due and deliver within `timeout`; returns notices left in the outbox."""
        await self._ensure_loaded()
        await self._tick(self._clock.now())
        pending = set(self._outbox.inflight_tasks())
        if pending:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            try:
                while pending and not sleeper.done():
                    await asyncio.wait(pending | {sleeper}, return_when=asyncio.FIRST_COMPLETED)
                    pending = {t for t in pending if not t.done()}
            finally:
                sleeper.cancel()
        await self._outbox.cancel_inflight()
        return len(self._outbox)

    async def close(self) -> None:
        await self._outbox.cancel_inflight()
        for integ in [i for lst in self._integrations.values() for i in lst] + self._retired:
            try:
                await integ.notifier.close()
            except Exception:
                log.exception("closing notifier %s failed", integ.key)
        self._retired.clear()

    def groups(self) -> list[dict[str, Any]]:
        """Current aggregation groups, for the API."""
        out = []
        for group in sorted(self._groups.values(), key=lambda g: g.key):
            integrations = self._integrations.get(group.receiver, [])
            out.append({
                "id": dedup_key_for(group.key),
                "key": group.key,
                "route": group.route_key,
                "labels": dict(group.labels),
                "receiver": group.receiver,
                "next_flush_at": group.next_flush_at,
                "alerts": [
                    {"labels": dict(a.labels), "annotations": dict(a.annotations), "state": "firing" if is_firing(a) else "resolved",
                     "fingerprint": a.fingerprint, "starts_at": a.fired_at if a.fired_at is not None else a.active_at,
                     "ends_at": a.resolved_at}
                    for a in sorted(group.alerts.values(), key=lambda a: tuple(a.labels))
                ],
                "notifications": [
                    {"integration": i.key, "status": rec.status, "sent_at": rec.sent_at}
                    for i in integrations
                    if (rec := self._outbox.delivered((group.key, i.key))) is not None
                ],
            })
        return out

    # -- internals: flushing ------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        await self._outbox.load()

    async def _tick(self, now: float) -> None:
        due: list[tuple[AlertGroup, list[Alert]]] = []
        for key, group in list(self._groups.items()):
            if is_due(group, now):
                group = expire_unrefreshed(group, now, self._resolve_timeout)
                flushed, snapshot = flush(group, now)
                self._groups[key] = flushed
                due.append((flushed, snapshot))
        for group, snapshot in due:
            await self._dispatch_group(group, snapshot, now, reason="", force=False)
            current = self._groups.get(group.key)
            if current is not None:
                current = drop_flushed_resolved(current, snapshot)
                if current.alerts:
                    self._groups[group.key] = current
                else:
                    del self._groups[group.key]
            for alert in snapshot:
                if not is_firing(alert) and alert.resolved_at is not None:
                    self._carried_resolved[alert.fingerprint] = alert.resolved_at
        self._carried_resolved = {fp: t for fp, t in self._carried_resolved.items() if t > now - RESOLVED_MEMORY}
        self._outbox.start_due(now)

    async def _dispatch_group(self, group: AlertGroup, snapshot: Sequence[Alert], now: float, *, reason: str, force: bool) -> None:
        integrations = self._integrations.get(group.receiver)
        if integrations is None:
            log.error("group %s routes to unknown receiver %r; notice not sent", group.key, group.receiver)
            return
        firing = [a for a in snapshot if is_firing(a)]
        resolved = [a for a in snapshot if not is_firing(a)]
        firing_fps, resolved_fps = fingerprints(firing), fingerprints(resolved)
        dedup_key = dedup_key_for(group.key)
        for integ in integrations:
            last = await self._outbox.last_record(group.key, integ.key)
            if not force and not needs_update(
                last, firing_fps, resolved_fps, send_resolved=integ.send_resolved,
                repeat_interval=group.timing.repeat_interval, now=now,
            ):
                continue
            if force and not firing and (last is None or not last.firing_fingerprints):
                continue  # nothing this receiver knows of is firing: nothing to say
            record = NotificationRecord(
                group_key=group.key, receiver=integ.key, status=notice_status(snapshot), sent_at=now,
                dedup_key=dedup_key, firing_fingerprints=firing_fps, resolved_fingerprints=resolved_fps,
            )
            to_send = firing + (resolved if integ.send_resolved else [])
            if not to_send:
                # Resolved, but this integration does not want resolved notices: only the log learns it.
                await self._outbox.record_without_sending((group.key, integ.key), record)
                continue
            notice = Notice.build(
                receiver=group.receiver, group_key=group.key, group_labels=dict(group.labels),
                alerts=[NoticeAlert.from_alert(a, is_firing(a)) for a in to_send],
                external_url=self._external_url, reason=reason, created_at=now,
            )
            await self._outbox.enqueue(integ, notice, record, now)

    # -- internals: the loop's waiting ---------------------------------------------
    def _next_wake(self, now: float) -> float:
        times = [g.next_flush_at for g in self._groups.values()]
        times += [i.next_attempt_at for i in self._outbox.eligible_items()]
        return min(times, default=now + MAX_IDLE_WAIT)

    async def _wait(self, delay: float) -> None:
        delay = min(delay, MAX_IDLE_WAIT)
        if delay <= 0:
            await asyncio.sleep(0)
            return
        sleeper = asyncio.ensure_future(self._clock.sleep(delay))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            waker.cancel()
