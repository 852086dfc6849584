"""The outbox delivery pipeline: durable queue, attempts, retries, notification log, timeline.

A notice is written to the Store outbox before it is sent and deleted only
after the integration accepted it; then the notification log records it.
Per (group, integration) at most one attempt is in flight and notices go out
in order. Retries back off exponentially with full jitter (seeded RNG for
tests), honour Retry-After, and stop at the retry deadline; a permanent error
stops at once. Every attempt is a `notification.sent` / `notification.failed`
event. The dispatcher decides *what* to send; this decides *how it gets there*
(fallback receivers, rate limits and circuit breakers: `delivery.py`, `fallback.py`).

Crash safety: on acceptance the notification log is written *before* the outbox
row is deleted, and at load an outbox row whose notice the log already records
is dropped instead of re-sent. What remains is the one window no outbox can
close: the channel accepted, the process died before the log write.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Any, Callable, Mapping

from watchdog.clock import Clock
from watchdog.model import Event
from watchdog.notify import metrics
from watchdog.notify.base import Notice, PermanentError, RetryableError
from watchdog.notify.delivery import ChannelState, TokenBucket, channel_state
from watchdog.notify.fallback import FallbackRouter
from watchdog.notify.registry import Integration
from watchdog.state.base import NotificationRecord, OutboxItem, Store

log = logging.getLogger("watchdog.notify")

DEFAULT_RETRY_DEADLINE = 3600.0
BACKOFF_BASE = 1.0
BACKOFF_CAP = 300.0

Key = tuple[str, str]  # (group key, integration key)


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


class Outbox:
    def __init__(
        self,
        *,
        store: Store,
        clock: Clock,
        rng: random.Random | None = None,
        retry_deadline: float = DEFAULT_RETRY_DEADLINE,
        wake: Callable[[], None] = lambda: None,
    ) -> None:
        self._store = store
        self._clock = clock
        self._rng = rng or random.Random()
        self._retry_deadline = retry_deadline
        self._wake = wake                                   # tells the dispatcher loop to look again
        self._delivered: dict[Key, NotificationRecord | None] = {}   # notification-log cache
        self._pending: dict[Key, int] = {}                  # newest outbox id per key
        self._outbox: dict[int, OutboxItem] = {}
        self._inflight: dict[int, asyncio.Task[None]] = {}
        self._deferred_log: dict[Key, NotificationRecord] = {}
        self._by_key: dict[str, Integration] = {}
        self._channels: dict[str, ChannelState] = {}     # per integration key: breaker, rate bucket
        self._buckets: dict[str, TokenBucket] = {}        # per rate key (Slack channel, PagerDuty routing key)
        self._fallback = FallbackRouter(self)
        self._loaded = False
        self._load_lock = asyncio.Lock()

    def set_integrations(self, by_key: Mapping[str, Integration]) -> None:
        """Integrations by key (`oncall/webhook/0`); queued notices of a removed one fail as `config`."""
        self._by_key = dict(by_key)
        for integ in self._by_key.values():
            attach = getattr(integ.notifier, "attach_store", None)
            if attach is not None:
                attach(self._store)   # e.g. Slack bot mode keeps the message ts for chat.update
        # breakers and buckets survive a reload for integrations that still exist
        self._channels = {k: v for k, v in self._channels.items() if k in self._by_key}

    def channel(self, integ: Integration) -> ChannelState:
        state = self._channels.get(integ.key)
        if state is None:
            state = self._channels[integ.key] = channel_state(integ.policy, integ.integration)
            rate_key = getattr(integ.notifier, "rate_key", "")
            if rate_key and state.bucket is not None:
                # The channel's limit is per Slack channel / PagerDuty routing key, not per receiver:
                # integrations that post to the same one share its budget.
                state.bucket = self._buckets.setdefault(rate_key, state.bucket)
        return state

    def integrations_of(self, receiver: str) -> list[Integration]:
        return [i for i in self._by_key.values() if i.receiver == receiver]

    def channels(self) -> dict[str, dict[str, Any]]:
        """Breaker state per integration, for the API and `watchdog notify test`."""
        return {k: {"open": c.breaker.open, "consecutive_failures": c.breaker.consecutive, "last_error": c.breaker.last_error}
                for k, c in sorted(self._channels.items())}

    def integration_states(self) -> list[dict[str, Any]]:
        """Every configured integration with its breaker and queue, for `GET /api/v1/notify/receivers`.

        `failing` is the breaker being open (what raised WatchdogNotificationsFailing); errors are
        the notifiers' messages, which name only a URL's scheme and host, never a secret.
        """
        queued: dict[str, int] = {}
        for item in self._outbox.values():
            ikey = item.payload.get("integration_key", "")
            queued[ikey] = queued.get(ikey, 0) + 1
        out = []
        for key, integ in sorted(self._by_key.items()):
            channel = self._channels.get(key)
            breaker = channel.breaker if channel is not None else None
            out.append({
                "key": key, "receiver": integ.receiver, "integration": integ.integration,
                "failing": bool(breaker and breaker.open),
                "consecutive_failures": breaker.consecutive if breaker else 0,
                "last_error": breaker.last_error if breaker else "",
                "queued": queued.get(key, 0),
            })
        return out

    def __len__(self) -> int:
        return len(self._outbox)

    def delivered(self, key: Key) -> NotificationRecord | None:
        """The cached notification-log entry, if it was loaded or written by this process."""
        return self._delivered.get(key)

    def busy(self) -> bool:
        return bool(self._inflight)

    def inflight_tasks(self) -> list[asyncio.Task[None]]:
        return [t for t in self._inflight.values() if not t.done()]

    async def load(self) -> None:
        """Load the items a previous run left (once)."""
        if self._loaded:
            return
        async with self._load_lock:
            if self._loaded:
                return
            for item in await self._store.outbox_all():
                if item.id is None:
                    continue
                if await self._already_logged(item):
                    # accepted and logged just before a crash that came before the row's delete
                    await self._store.outbox_delete(item.id)
                    continue
                self._outbox[item.id] = item
                k = (item.group_key, item.payload.get("integration_key", ""))
                self._pending[k] = max(item.id, self._pending.get(k, item.id))
            metrics.OUTBOX_SIZE.set(len(self._outbox))
            self._loaded = True

    async def _already_logged(self, item: OutboxItem) -> bool:
        try:
            record = record_from_dict(item.payload["record"])
        except (KeyError, TypeError, ValueError):
            return False
        logged = await self._store.last_notification(item.group_key, item.payload.get("integration_key", ""))
        return logged is not None and _same_record(logged, record)

    async def wait_idle(self, now: float) -> None:
        """Wait for the attempts in flight, starting items that become due at `now` meanwhile."""
        while self._inflight:
            await asyncio.gather(*list(self._inflight.values()), return_exceptions=True)
            self.start_due(now)

    async def last_delivered(self, k: Key) -> NotificationRecord | None:
        """What the integration accepted last (the log), ignoring queued notices."""
        if k not in self._delivered:
            self._delivered[k] = await self._store.last_notification(*k)
        return self._delivered[k]

    def has_pending(self, k: Key) -> bool:
        """A notice for this (group, integration) is queued and not accepted yet."""
        pending_id = self._pending.get(k)
        return pending_id is not None and pending_id in self._outbox

    async def last_record(self, gkey: str, ikey: str) -> NotificationRecord | None:
        """What this integration last heard about the group: the queued notice if any, else the log."""
        pending_id = self._pending.get((gkey, ikey))
        if pending_id is not None and pending_id in self._outbox:
            return record_from_dict(self._outbox[pending_id].payload["record"])
        if (gkey, ikey) not in self._delivered:
            self._delivered[(gkey, ikey)] = await self._store.last_notification(gkey, ikey)
        return self._delivered[(gkey, ikey)]

    async def record_without_sending(self, k: tuple[str, str], record: NotificationRecord) -> None:
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

    async def enqueue(self, integ: Integration, notice: Notice, record: NotificationRecord, now: float) -> None:
        k = (notice.group_key, integ.key)
        old_id = self._pending.get(k)
        delivered = await self.last_delivered(k)
        if not notice.pinned_dedup_key and delivered is not None and delivered.dedup_key and delivered.firing_fingerprints:
            # The channel knows this group's incident by the key of the firing notice it accepted; keep
            # using it (a reload or fallback may have changed how the key would be derived now).
            notice = dataclasses.replace(notice, pinned_dedup_key=delivered.dedup_key)
        if old_id is not None and old_id in self._outbox and old_id not in self._inflight:
            old_notice = self._outbox[old_id].payload.get("notice", {})
            never_paged = delivered is None or not delivered.firing_fingerprints
            if old_notice.get("status") == "firing" and notice.status == "resolved" and never_paged:
                # The firing notice never got out and the incident is over: one notice that says so.
                notice = dataclasses.replace(notice, reason=_join(notice.reason, "fired and resolved before the firing notice could be delivered"))
        item = OutboxItem(
            receiver=integ.receiver, group_key=notice.group_key, created_at=now, next_attempt_at=now,
            dedup_key=notice.dedup_key,
            payload={"integration_key": integ.key, "integration": integ.integration,
                     "notice": notice.to_dict(), "record": record_to_dict(record)},
        )
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
        self._wake()

    def eligible_items(self) -> list[OutboxItem]:
        """Per (group, integration), the oldest item, unless one of that key is being sent."""
        busy = {(self._outbox[i].group_key, self._outbox[i].payload.get("integration_key")) for i in self._inflight if i in self._outbox}
        first: dict[tuple[str, Any], OutboxItem] = {}
        for item_id in sorted(self._outbox):
            item = self._outbox[item_id]
            k = (item.group_key, item.payload.get("integration_key"))
            if k not in busy and k not in first:
                first[k] = item
        return list(first.values())

    def start_due(self, now: float) -> None:
        for item in self.eligible_items():
            if item.next_attempt_at <= now and item.id is not None:
                self._inflight[item.id] = asyncio.ensure_future(self._deliver(item))

    async def cancel_inflight(self) -> None:
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
            self._wake()
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

    def _deadline(self, integ: Integration) -> float:
        return integ.policy.retry_deadline if integ.policy.retry_deadline is not None else self._retry_deadline

    def _defer(self, integ: Integration, channel: ChannelState, item: OutboxItem, now: float) -> bool:
        """Hold the item back (no attempt counted) while the breaker is open or the rate limit is spent."""
        breaker = channel.breaker
        if breaker.open and (now < breaker.retry_at() or breaker.trial_inflight):
            item.next_attempt_at = max(now + 0.001, breaker.retry_at())
            metrics.DEFERRED.labels(integ.receiver, integ.integration, "breaker_open").inc()
            return True
        if channel.bucket is not None:
            wait = channel.bucket.wait(now)
            if wait > 0:
                item.next_attempt_at = now + wait
                metrics.DEFERRED.labels(integ.receiver, integ.integration, "rate_limited").inc()
                return True
        breaker.allow(now)   # marks the trial attempt of an open breaker
        return False

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
        channel = self.channel(integ)
        now = self._clock.now()
        deadline = item.created_at + self._deadline(integ)
        if channel.breaker.open and now >= deadline:
            message = f"receiver failing ({channel.breaker.last_error}) (retry deadline reached)"
            await self._give_up(item, notice, attempt, message, "deadline")
            await self._fallback.reroute(integ, notice, message, now)
            return
        if self._defer(integ, channel, item, now):
            item.next_attempt_at = min(item.next_attempt_at, max(deadline, now + 0.001))
            return
        started = self._clock.monotonic()
        error: Exception | None = None
        try:
            await integ.notifier.send(notice)
        except (RetryableError, PermanentError) as e:
            error = e
        except asyncio.CancelledError:
            channel.breaker.trial_inflight = False
            raise
        except Exception as e:  # a notifier bug: keep the notice, report only the kind of error
            error = RetryableError(f"{integration_name} notifier raised {type(e).__name__}", reason="other")
            log.exception("notifier %s raised unexpectedly", ikey)
        finally:
            metrics.LATENCY.labels(integ.receiver, integ.integration).observe(max(0.0, self._clock.monotonic() - started))
        now = self._clock.now()
        if error is None:
            # Log first, then delete: a crash in between leaves a row that load() recognises as sent.
            await self._store.log_notification(record)
            self._delivered[(item.group_key, ikey)] = record
            await self._store.outbox_delete(item.id)
            self._forget(item)
            metrics.NOTIFICATIONS.labels(integ.receiver, integ.integration).inc()
            await self._event(now, "notification.sent", item, notice, attempt, "")
            if channel.breaker.success():
                await self._fallback.receiver_recovered(integ, now)
            return
        message = getattr(error, "message", str(error))
        reason = getattr(error, "reason", "other")
        metrics.NOTIFICATIONS_FAILED.labels(integ.receiver, integ.integration, reason).inc()
        # A 429 is the channel pacing us, not failing: it never opens the breaker.
        if reason != "rate_limited" and channel.breaker.failure(now, message):
            await self._fallback.receiver_failing(integ, message, now)
        if isinstance(error, PermanentError):
            await self._give_up(item, notice, attempt, message, reason, counted=True)
            await self._fallback.reroute(integ, notice, message, now)
            return
        if now >= deadline:
            await self._give_up(item, notice, attempt, f"{message} (retry deadline reached)", "deadline", counted=True)
            await self._fallback.reroute(integ, notice, message, now)
            return
        retry_after = getattr(error, "retry_after", None)
        delay = retry_after if retry_after is not None else full_jitter_backoff(attempt, self._rng)
        item.attempts = attempt
        item.last_error = message
        item.next_attempt_at = min(now + delay, max(deadline, now))
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

    async def store_event(self, event: Event) -> None:
        try:
            await self._store.append_event(event)
        except Exception:
            log.exception("could not record %s on the timeline", event.kind)

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


def _same_record(a: NotificationRecord, b: NotificationRecord) -> bool:
    return (a.status, a.sent_at, tuple(a.firing_fingerprints), tuple(a.resolved_fingerprints)) == \
        (b.status, b.sent_at, tuple(b.firing_fingerprints), tuple(b.resolved_fingerprints))


def _join(*parts: str) -> str:
    return "; ".join(p for p in parts if p)
