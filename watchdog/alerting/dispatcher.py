"""The dispatcher: alerts -> routes -> aggregation groups -> notices -> outbox -> notifiers.

The decisions (grouping, waits, repeats, dedup) are the pure functions of
`watchdog.alerting.grouping`; this class holds the state, talks to the Store
and runs the flush/delivery loop on the injected clock.

Delivery contract: a notice is written to the outbox before it is sent and
deleted only after the integration accepted it; then the notification log
records it. Retries back off exponentially with full jitter, honour
Retry-After, and stop at a deadline; a permanent error stops at once. Every
attempt is an event on the timeline.

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
from watchdog.model import Alert, AlertState, Event, Labels
from watchdog.notify import metrics
from watchdog.notify.base import Notice, NoticeAlert, dedup_key_for, PermanentError, RetryableError
from watchdog.notify.registry import Integration, build_integrations
from watchdog.state.base import NotificationRecord, OutboxItem, Store

log = logging.getLogger("watchdog.notify")

Router = Callable[[Labels], list[RouteTarget]]

DEFAULT_RETRY_DEADLINE = 3600.0
DEFAULT_RESOLVE_TIMEOUT = 300.0   # Alertmanager's global.resolve_timeout
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0
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


def record_to_dict(r: NotificationRecord) -> dict[str, Any]:
    return {
        "group_key": r.group_key, "receiver": r.receiver, "status": r.status, "sent_at": r.sent_at,
        "dedup_key": r.dedup_key, "firing": list(r.firing_fingerprints), "resolved": list(r.resolved_fingerprints),
    }


def record_from_dict(d: Mapping[str, Any]) -> NotificationRecord:
    return NotificationRecord(
        group_key=d["group_key"], receiver=d["receiver"], status=d["status"], sent_at=float(d["sent_at"]),
        dedup_key=d.get("dedup_key", ""), firing_fingerprints=tuple(d.get("firing", ())),
        resolved_fingerprints=tuple(d.get("resolved", ())),
    )


def full_jitter_backoff(attempt: int, rng: random.Random, base: float = BACKOFF_BASE, cap: float = BACKOFF_CAP) -> float:
    """AWS's "full jitter": uniform(0, min(cap, base * 2^(attempt-1))), never below a tenth of base."""
    ceiling = min(cap, base * (2 ** max(0, attempt - 1)))
    return max(base / 10, rng.uniform(0, ceiling))


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
        self._store = store
        self._clock = clock
        self._external_url = external_url
        self._external_labels = dict(external_labels or {})
        self._rng = rng or random.Random()
        self._retry_deadline = retry_deadline
        self._groups: dict[str, AlertGroup] = {}
        self._delivered: dict[tuple[str, str], NotificationRecord | None] = {}  # notification-log cache
        self._pending: dict[tuple[str, str], int] = {}      # (group key, integration key) -> newest outbox id
        self._outbox: dict[int, OutboxItem] = {}
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._deferred_log: dict[tuple[str, str], NotificationRecord] = {}
        self._carried_resolved: dict[str, float] = {}       # fingerprint -> resolved_at already flushed
        self._integrations: dict[str, list[Integration]] = {}
        self._by_key: dict[str, Integration] = {}
        self._retired: list[Integration] = []
        self._wake = asyncio.Event()
        self._loaded = False
        self._load_lock = asyncio.Lock()
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
        self._by_key = {i.key: i for lst in integrations.values() for i in lst}
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
        await self._ensure_loaded()
        try:
            while True:
                self._wake.clear()
                now = self._clock.now()
                try:
                    await self._tick(now)
                except Exception:  # a store hiccup must not end the loop
                    log.exception("notification dispatcher tick failed")
                await self._wait(self._next_wake(now) - now)
        finally:
            await self._cancel_inflight()

    async def process_due(self) -> None:
        """One deterministic step at the clock's now: flush due groups, deliver due notices, wait for the attempts.

        `watchdog test scenario` and tests drive the dispatcher with this instead of run().
        """
        await self._ensure_loaded()
        now = self._clock.now()
        await self._tick(now)
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)
            self._start_due_deliveries(now)

    async def drain(self, timeout: float) -> int:
        """On shutdown: flush what is due and deliver within `timeout`; returns notices left in the outbox."""
        await self._ensure_loaded()
        await self._tick(self._clock.now())
        pending = {t for t in self._inflight.values() if not t.done()}
        if pending:
            sleeper = asyncio.ensure_future(self._clock.sleep(timeout))
            try:
                while pending and not sleeper.done():
                    await asyncio.wait(pending | {sleeper}, return_when=asyncio.FIRST_COMPLETED)
                    pending = {t for t in pending if not t.done()}
            finally:
                sleeper.cancel()
        await self._cancel_inflight()
        return len(self._outbox)

    async def close(self) -> None:
        await self._cancel_inflight()
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
                    if (rec := self._delivered.get((group.key, i.key))) is not None
                ],
            })
        return out

    # -- internals: flushing ------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        """Load pending outbox items once (deliver what a previous run left)."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            for item in await self._store.outbox_all():
                if item.id is None:
                    continue
                self._outbox[item.id] = item
                k = (item.group_key, item.payload.get("integration_key", ""))
                self._pending[k] = max(item.id, self._pending.get(k, item.id))
            metrics.OUTBOX_SIZE.set(len(self._outbox))
            self._loaded = True

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
        self._start_due_deliveries(now)

    async def _last_record(self, gkey: str, ikey: str) -> NotificationRecord | None:
        """What this integration last heard about the group: the queued notice if any, else the log."""
        pending_id = self._pending.get((gkey, ikey))
        if pending_id is not None and pending_id in self._outbox:
            return record_from_dict(self._outbox[pending_id].payload["record"])
        if (gkey, ikey) not in self._delivered:
            self._delivered[(gkey, ikey)] = await self._store.last_notification(gkey, ikey)
        return self._delivered[(gkey, ikey)]

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
            last = await self._last_record(group.key, integ.key)
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
                await self._record_without_sending((group.key, integ.key), record)
                continue
            notice = Notice.build(
                receiver=group.receiver, group_key=group.key, group_labels=dict(group.labels),
                alerts=[NoticeAlert.from_alert(a, is_firing(a)) for a in to_send],
                external_url=self._external_url, reason=reason, created_at=now,
            )
            await self._enqueue(integ, notice, record, now)

    async def _record_without_sending(self, k: tuple[str, str], record: NotificationRecord) -> None:
        """Log a decision that sends nothing; a queued notice for the same key is stale and goes."""
        queued = [i for i, item in self._outbox.items()
                  if (item.group_key, item.payload.get("integration_key", "")) == k]
        for item_id in queued:
            if item_id not in self._inflight:
                item = self._outbox[item_id]
                await self._store.outbox_delete(item_id)
                self._forget(item)
        if any(i in self._inflight for i in queued):
            self._deferred_log[k] = record   # written once the attempt in flight finishes, so it stays last
            return
        await self._store.log_notification(record)
        self._delivered[k] = record

    async def _enqueue(self, integ: Integration, notice: Notice, record: NotificationRecord, now: float) -> None:
        k = (notice.group_key, integ.key)
        item = OutboxItem(
            receiver=integ.receiver, group_key=notice.group_key, created_at=now, next_attempt_at=now,
            dedup_key=notice.dedup_key,
            payload={"integration_key": integ.key, "integration": integ.integration,
                     "notice": notice.to_dict(), "record": record_to_dict(record)},
        )
        old_id = self._pending.get(k)
        if old_id is not None and old_id in self._outbox and old_id not in self._inflight:
            # A queued notice that was never accepted is superseded by this one, which describes
            # the group as it is now; it keeps the old deadline and backoff (Retry-After still holds).
            old = self._outbox.pop(old_id)
            await self._store.outbox_delete(old_id)
            item.created_at, item.next_attempt_at, item.attempts = old.created_at, old.next_attempt_at, old.attempts
        item.id = await self._store.outbox_put(item)
        self._outbox[item.id] = item
        self._pending[k] = item.id
        metrics.OUTBOX_SIZE.set(len(self._outbox))
        self._wake.set()

    # -- internals: delivery --------------------------------------------------------
    def _next_wake(self, now: float) -> float:
        times = [g.next_flush_at for g in self._groups.values()]
        times += [i.next_attempt_at for i in self._eligible_items()]
        return min(times, default=now + MAX_IDLE_WAIT)

    def _eligible_items(self) -> list[OutboxItem]:
        """Per (group, integration), the oldest item, unless one of that key is being sent."""
        busy = {(self._outbox[i].group_key, self._outbox[i].payload.get("integration_key")) for i in self._inflight if i in self._outbox}
        first: dict[tuple[str, Any], OutboxItem] = {}
        for item_id in sorted(self._outbox):
            item = self._outbox[item_id]
            k = (item.group_key, item.payload.get("integration_key"))
            if k not in busy and k not in first:
                first[k] = item
        return list(first.values())

    def _start_due_deliveries(self, now: float) -> None:
        for item in self._eligible_items():
            if item.next_attempt_at <= now and item.id is not None:
                self._inflight[item.id] = asyncio.ensure_future(self._deliver(item))

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

    async def _cancel_inflight(self) -> None:
        tasks = list(self._inflight.values())
        for t in tasks:
            t.cancel()
        for t in tasks:
            try:
                await t
            except (asyncio.CancelledError, Exception):
                pass
        self._inflight.clear()

    async def _deliver(self, item: OutboxItem) -> None:
        assert item.id is not None
        try:
            await self._attempt(item)
        except asyncio.CancelledError:
            raise
        except Exception:  # the store failed mid-way: the item stays in the outbox for a later pass
            log.exception("delivery bookkeeping failed for outbox item %s", item.id)
            item.next_attempt_at = self._clock.now() + full_jitter_backoff(item.attempts + 1, self._rng)
        finally:
            self._inflight.pop(item.id, None)
            self._wake.set()
        k = (item.group_key, item.payload.get("integration_key", ""))
        deferred = self._deferred_log.pop(k, None)
        if deferred is not None:
            try:
                if item.id in self._outbox:
                    await self._store.outbox_delete(item.id)
                    self._forget(item)
                await self._store.log_notification(deferred)
                self._delivered[k] = deferred
            except Exception:
                log.exception("could not record notification log entry for %s", k)

    async def _attempt(self, item: OutboxItem) -> None:
        assert item.id is not None
        ikey = item.payload.get("integration_key", "")
        notice = Notice.from_dict(item.payload["notice"])
        record = record_from_dict(item.payload["record"])
        integ = self._by_key.get(ikey)
        attempt = item.attempts + 1
        integration_name = item.payload.get("integration", "")
        if integ is None:
            await self._give_up(item, notice, attempt, "receiver integration no longer configured", "config")
            return
        started = self._clock.monotonic()
        error: Exception | None = None
        try:
            await integ.notifier.send(notice)
        except (RetryableError, PermanentError) as e:
            error = e
        except asyncio.CancelledError:
            raise
        except Exception as e:  # a notifier bug: keep the notice, report only the kind of error
            error = RetryableError(f"{integration_name} notifier raised {type(e).__name__}", reason="other")
            log.exception("notifier %s raised unexpectedly", ikey)
        finally:
            metrics.LATENCY.labels(integ.receiver, integ.integration).observe(max(0.0, self._clock.monotonic() - started))
        now = self._clock.now()
        if error is None:
            await self._store.outbox_delete(item.id)
            self._forget(item)
            await self._store.log_notification(record)
            self._delivered[(item.group_key, ikey)] = record
            metrics.NOTIFICATIONS.labels(integ.receiver, integ.integration).inc()
            await self._event(now, "notification.sent", item, notice, attempt, "")
            return
        message = getattr(error, "message", str(error))
        reason = getattr(error, "reason", "other")
        metrics.NOTIFICATIONS_FAILED.labels(integ.receiver, integ.integration, reason).inc()
        if isinstance(error, PermanentError):
            await self._give_up(item, notice, attempt, message, reason, counted=True)
            return
        deadline = item.created_at + self._retry_deadline
        if now >= deadline:
            await self._give_up(item, notice, attempt, f"{message} (retry deadline reached)", "deadline", counted=True)
            return
        retry_after = getattr(error, "retry_after", None)
        delay = retry_after if retry_after is not None else full_jitter_backoff(attempt, self._rng)
        item.attempts = attempt
        item.last_error = message
        item.next_attempt_at = now + delay
        await self._store.outbox_update(item)
        await self._event(now, "notification.failed", item, notice, attempt, message, retry_in=delay, final=False)

    async def _give_up(self, item: OutboxItem, notice: Notice, attempt: int, message: str, reason: str, counted: bool = False) -> None:
        assert item.id is not None
        if not counted:
            metrics.NOTIFICATIONS_FAILED.labels(item.receiver, item.payload.get("integration", ""), reason).inc()
        await self._store.outbox_delete(item.id)
        self._forget(item)
        log.error("notice for group %s to %s dropped after %d attempt(s): %s",
                  item.group_key, item.payload.get("integration_key"), attempt, message)
        await self._event(self._clock.now(), "notification.failed", item, notice, attempt, message, final=True)

    def _forget(self, item: OutboxItem) -> None:
        assert item.id is not None
        self._outbox.pop(item.id, None)
        k = (item.group_key, item.payload.get("integration_key", ""))
        if self._pending.get(k) == item.id:
            del self._pending[k]
        metrics.OUTBOX_SIZE.set(len(self._outbox))

    async def _event(self, now: float, kind: str, item: OutboxItem, notice: Notice, attempt: int, error: str, **extra: Any) -> None:
        data: dict[str, Any] = {
            "receiver": notice.receiver,
            "integration": item.payload.get("integration", ""),
            "group_key": notice.group_key,
            "status": notice.status,
            "alerts": [{"status": a.status, "labels": dict(a.labels)} for a in notice.alerts],
            "attempt": attempt,
            "error": error,
            "dedup_key": notice.dedup_key,
        }
        if notice.reason:
            data["reason"] = notice.reason
        data.update(extra)
        await self._store.append_event(Event(time=now, kind=kind, data=data))
