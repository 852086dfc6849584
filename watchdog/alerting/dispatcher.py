"""The dispatcher: alerts -> routes -> aggregation groups -> notices -> outbox -> notifiers.

The decisions (grouping, waits, repeats, dedup) are the pure functions of
`watchdog.alerting.grouping`; this class holds the state, talks to the Store
and runs the flush/delivery loop on the injected clock.

Delivery (outbox first, retries, the notification log, timeline events) is
`watchdog.notify.outbox.Outbox`.

Routing is the Alertmanager route tree (`watchdog.alerting.routing`); at each
flush, silences, inhibition and the route's time intervals hold firing alerts
back (`watchdog.alerting.decide`), escalation policies pick the receivers
(`watchdog.alerting.escalation`), and acknowledgements pause escalation and
repeats. Silences and acks live in `watchdog.alerting.controls`.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import random
from typing import Any, Callable, Mapping, Sequence

from watchdog.alerting import escalation as esc
from watchdog.alerting.controls import Controls
from watchdog.alerting.dispatcher_controls import DEFAULT_DEDUP_RETENTION, DispatcherControls
from watchdog.alerting.dispatcher_views import STORM_SUMMARY_MAX_ALERTS, DispatcherViews  # noqa: F401 (re-exported)
from watchdog.alerting import damping
from watchdog.alerting.decide import decide
from watchdog.alerting.inhibit import Inhibitor
from watchdog.alerting.resolve_hold import DEFAULT_MAX_HOLD, Hold, ResolveHolds
from watchdog.alerting.routing import RouteTree
from watchdog.alerting.timeintervals import is_muted
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
    new_group,
)
from watchdog.clock import Clock
from watchdog.model import Alert, AlertState, Event, Labels
from watchdog.notify.base import Notice, NoticeAlert, dedup_key_for
from watchdog.notify.outbox import DEFAULT_RETRY_DEADLINE, Outbox
from watchdog.notify.registry import Integration, build_integrations
from watchdog.notify.templates import DEFAULT_TEMPLATES
from watchdog.promql.template_set import TemplateSet
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


class Dispatcher(DispatcherControls, DispatcherViews, ResolveHolds):
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
        escalation_policies: Sequence[Any] = (),
        flapping: damping.FlapSettings | None = None,
        storm: damping.StormSettings | None = None,
        templates: TemplateSet | None = None,
        dedup_retention: float = DEFAULT_DEDUP_RETENTION,
    ) -> None:
        self._clock = clock
        # the loaded config's notification template set (LoadedConfig.notification_templates)
        self._templates: TemplateSet = templates or DEFAULT_TEMPLATES
        self._external_url = external_url
        self._external_labels = dict(external_labels or {})
        self._wake = asyncio.Event()
        self._outbox = Outbox(store=store, clock=clock, rng=rng, retry_deadline=retry_deadline, wake=self._wake.set)
        self._groups: dict[str, AlertGroup] = {}
        self._carried_resolved: dict[str, float] = {}       # fingerprint -> resolved_at already flushed
        self._integrations: dict[str, list[Integration]] = {}
        self._retired: list[Integration] = []
        self._custom_router = router
        self._store = store
        self._controls = Controls(store)
        self._escalations: dict[str, esc.EscalationState] = {}
        self._policies: dict[str, esc.Policy] = {}
        self._inhibit_dirty = True
        self._controls_loaded = False
        self._flap_settings = flapping or damping.FlapSettings()
        self._storm_settings = storm or damping.StormSettings()
        self._flap: dict[str, damping.FlapState] = {}
        self._created: list[float] = []                     # group creation times (storm detection)
        self._storm_batch: dict[str, list[Alert]] = {}      # receiver -> first-notice alerts held by a storm
        self._storm_groups: dict[str, list[str]] = {}       # receiver -> group keys in the current summary
        self._storms: list[dict[str, Any]] = []             # recent storm summaries, for the API
        # dedup key -> (group key, fingerprints told as firing): a channel's ack carries the key it was
        # given, which a reload may have retired; find_group follows it to the group that took the alerts
        # (persisted in the store's kv table, so an ack after a restart still finds the group; kept
        # for `dedup_retention`, the notification log's retention, after the key's last firing notice)
        self._dedup_log: dict[str, tuple[str, frozenset[str]]] = {}
        self._dedup_seen: dict[str, float] = {}             # dedup key -> its last firing notice
        self._dedup_dirty = False
        self._dedup_retention = dedup_retention
        # resolved notices waiting for a remediation's verdict (watchdog.alerting.resolve_hold)
        self._holds: dict[str, Hold] = {}
        self._verifying = None
        self._max_hold = DEFAULT_MAX_HOLD
        self.update_config(alerting, escalation_policies=escalation_policies)

    # -- configuration ------------------------------------------------------
    def update_config(self, alerting: Any, router: Router | None = None, escalation_policies: Sequence[Any] | None = None,
                      flapping: damping.FlapSettings | None = None, storm: damping.StormSettings | None = None,
                      templates: TemplateSet | None = None) -> None:
        """Swap in a new alerting config. Builds everything first; raises without changing anything on error.

        Groups carry over by key; groups of a route that still exists take its new timing and receiver.
        `escalation_policies`, `flapping`, `storm` and `templates` (the new config's notification
        template set) None keep the current ones; the template set changes only when the swap succeeds.
        """
        tset = templates or self._templates
        integrations = {r.name: build_integrations(r, clock=self._clock, templates=tset) for r in alerting.receivers}
        tree = RouteTree(alerting.route)
        new_router = router or self._custom_router or tree.router
        inhibitor = Inhibitor(list(getattr(alerting, "inhibit_rules", []) or []))
        intervals = alerting.all_time_intervals() if hasattr(alerting, "all_time_intervals") else {}
        if escalation_policies is not None:
            self._policies = {p.name: p if isinstance(p, esc.Policy) else esc.Policy.from_config(p) for p in escalation_policies}
        if flapping is not None:
            self._flap_settings = flapping
        if storm is not None:
            self._storm_settings = storm
        self._templates = tset
        self._tree = tree
        self._inhibitor = inhibitor
        self._inhibit_dirty = True
        self._intervals = intervals
        self._retired.extend(i for lst in self._integrations.values() for i in lst)
        self._alerting = alerting
        global_ = getattr(alerting, "global_", None)
        self._resolve_timeout = _seconds(getattr(global_, "resolve_timeout", None), DEFAULT_RESOLVE_TIMEOUT)
        self._router = new_router
        self._integrations = integrations
        self._outbox.set_integrations({i.key: i for lst in integrations.values() for i in lst})
        for key, group in list(self._groups.items()):
            # By route key, not by matching the group labels: a child route's matchers need more than group_by.
            node = tree.node(group.route_key) if router is None and self._custom_router is None else None
            if node is not None:
                self._groups[key] = dataclasses.replace(group, receiver=node.receiver, timing=node.timing)
            else:
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
            self._created = [t for t in self._created if t > now - self._storm_settings.window] + [now]
        return group

    async def on_alerts(self, alerts: Sequence[Alert], t: float, *, valid_until: Mapping[str, float] | None = None) -> None:
        """Take current alerts: firing and resolved ones (pending and inactive are ignored).

        Called after every rule-evaluation round and by POST /api/v2/alerts.
        The lists may be partial (one rule group at a time): an alert missing
        from a call is not resolved by it; a firing alert that nobody reports
        for `global.resolve_timeout` is resolved (Alertmanager's rule), or at
        the end its report announced: `valid_until` maps an alert's fingerprint
        (as given) to its Alertmanager `endsAt`.
        """
        await self._ensure_loaded()
        by_group: dict[str, list[Alert]] = {}
        ends: dict[str, float] = {}
        heard: list[Alert] = []
        for raw in alerts:
            if raw.state not in (AlertState.FIRING, AlertState.RESOLVED):
                continue
            alert = self._with_external_labels(raw)
            heard.append(alert)
            if valid_until and raw.fingerprint in valid_until:
                ends[alert.fingerprint] = valid_until[raw.fingerprint]
            if not is_firing(alert) and self._carried_resolved.get(alert.fingerprint) == alert.resolved_at:
                continue  # already carried by a flush; rules keep reporting resolved alerts for a while
            keys = [self._group_for(target, alert.labels, t).key for target in self._router(alert.labels)]
            # Groups that took this alert before a reload moved it elsewhere keep hearing of it, so their
            # receivers learn its real resolution (and never a fake one from resolve_timeout).
            keys += [k for k, g in self._groups.items() if alert.fingerprint in g.alerts and k not in keys]
            for key in keys:
                by_group.setdefault(key, []).append(alert)
        for key, batch in by_group.items():
            self._groups[key] = merge_alerts(self._groups[key], batch, t, ends)
            status = "firing" if self._groups[key].firing() else "resolved"
            before = self._flap.get(key, damping.FlapState())
            self._flap[key] = after = damping.observe_status(self._flap_settings, before, status, t)
            if after.flapping and not before.flapping:
                await self._flapping_changed(self._groups[key], after, t)
        for key in self._hold_heard(heard, self._groups, t):
            group = self._groups[key]
            self._groups[key] = dataclasses.replace(group, next_flush_at=min(group.next_flush_at, t))
        self._inhibit_dirty = True
        self._wake.set()

    async def notify_now(self, alerts: Sequence[Alert], reason: str, *, escalate: bool = False) -> None:
        """Send one notice at once to the groups' receivers, whatever the group/repeat intervals say.

        `escalate=True` (a remediation failed or was not verified): where the group's
        receiver is an escalation policy, the next level is reached now and told in
        the same notice (an acknowledged group is not escalated: a human is on it).
        """
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
        self._inhibit_dirty = True
        for key in touched:
            group = self._groups[key]
            snapshot = sorted(group.alerts.values(), key=lambda a: tuple(a.labels))
            await self._dispatch_group(group, snapshot, now, reason=reason, force=True, jump=escalate)
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

    # -- internals: flushing ------------------------------------------------------
    async def _ensure_loaded(self) -> None:
        await self._outbox.load()
        if not self._controls_loaded:
            await self._controls.load()
            for key, data in (await self._store.load_group_states()).items():
                try:
                    self._escalations[key] = esc.EscalationState.from_dict(data)
                except (KeyError, TypeError, ValueError):
                    continue
            await self._load_dedup_log()
            self._controls_loaded = True

    def _refresh_inhibitor(self) -> None:
        if self._inhibit_dirty:
            firing = {a.fingerprint: a.labels for g in self._groups.values() for a in g.alerts.values() if is_firing(a)}
            self._inhibitor.set_firing(firing.values())
            self._inhibit_dirty = False

    def _group_receivers(self, group: AlertGroup) -> tuple[str, ...]:
        policy = self._policies.get(group.receiver)
        if policy is None:
            return (group.receiver,)
        state = self._escalations.get(group.key)
        return esc.receivers_of(policy, state) if state is not None else ()

    async def _tick(self, now: float) -> None:
        for key in self._controls.expired_acks(now):
            group = self._groups.get(key)
            info = self._group_info(group) if group else {"group_key": key}
            await self._controls.unacknowledge(key, now, info, reason="expired")
            await self._pause_escalation(key, now, paused=False)
        due: list[tuple[AlertGroup, list[Alert], bool]] = []
        for key, group in list(self._groups.items()):
            if is_due(group, now):
                group = expire_unrefreshed(group, now, self._resolve_timeout)
                flushed, snapshot = flush(group, now)
                self._groups[key] = flushed
                due.append((flushed, snapshot, False))
            elif self._escalation_due(key, group, now):
                due.append((group, sorted(group.alerts.values(), key=lambda a: tuple(a.labels)), True))
        if due:
            self._inhibit_dirty = True
        for group, snapshot, escalation_only in due:
            waiting = await self._dispatch_group(group, snapshot, now, reason="", force=False, escalation_only=escalation_only)
            if escalation_only:
                continue
            if waiting:   # resolved alerts held for a remediation's verdict stay, and the group is looked at again
                snapshot = [a for a in snapshot if a.fingerprint not in waiting]
                held_group = self._groups.get(group.key)
                recheck = self._hold_recheck_at(now)
                if held_group is not None and recheck is not None:
                    self._groups[group.key] = dataclasses.replace(
                        held_group, next_flush_at=min(held_group.next_flush_at, recheck))
            current = self._groups.get(group.key)
            if current is not None and self._flapping(group.key):
                pass  # a flapping group stays (resolved alerts included) until stable, so its resolution is told
            elif current is not None:
                current = drop_flushed_resolved(current, snapshot)
                if current.alerts:
                    self._groups[group.key] = current
                else:
                    del self._groups[group.key]
            for alert in snapshot:
                if not is_firing(alert) and alert.resolved_at is not None:
                    self._carried_resolved[alert.fingerprint] = alert.resolved_at
        self._carried_resolved = {fp: t for fp, t in self._carried_resolved.items() if t > now - RESOLVED_MEMORY}
        self._forget_old_dedup_keys(now)
        await self._save_dedup_log()
        if self._holds:
            resolved_now = {fp for g in self._groups.values() for fp, a in g.alerts.items() if not is_firing(a)}
            self._holds = {fp: h for fp, h in self._holds.items() if fp in resolved_now}
        await self._send_storm_summaries(now)
        self._flap = {k: f for k, f in self._flap.items()
                      if k in self._groups or not damping.is_idle(self._flap_settings, f, now)}
        self._outbox.start_due(now)

    def _escalation_due(self, key: str, group: AlertGroup, now: float) -> bool:
        policy, state = self._policies.get(group.receiver), self._escalations.get(key)
        if policy is None or state is None or self._controls.ack_of(key, now) is not None:
            return False
        at = esc.next_due(policy, state, group.timing.repeat_interval) if state.paused_at is None else None
        return at is not None and at <= now

    def _held(self, group: AlertGroup, firing: Sequence[Alert], now: float) -> set[str]:
        """Fingerprints of firing alerts whose notices are held: time interval, silence or inhibition."""
        node = self._tree.node(group.route_key)
        if node is not None and is_muted(node.mute_time_intervals, node.active_time_intervals, self._intervals, now):
            return {a.fingerprint for a in firing}
        self._refresh_inhibitor()
        return {a.fingerprint for a in firing
                if self._controls.silenced_by(a.labels, now) or self._inhibitor.inhibited(a.labels)
                or not self._routed_here(group, a)}

    def _routed_here(self, group: AlertGroup, alert: Alert) -> bool:
        """False for an alert a reload routed away from this group (another route, or the same route with
        another `group_by`): the group only waits for its resolution."""
        return any(group_key(t.route_key, group_labels_for(alert.labels, t.group_by)) == group.key
                   for t in self._router(alert.labels))

    async def _former_receivers(self, group: AlertGroup, current: Sequence[str]) -> list[str]:
        """Receivers told of this group's firing that it no longer routes to (a reload changed the route)."""
        out = []
        for receiver, integrations in self._integrations.items():
            if receiver in current:
                continue
            for integ in integrations:
                last = await self._outbox.last_record(group.key, integ.key)
                if last is not None and last.firing_fingerprints:
                    out.append(receiver)
                    break
        return out

    async def _escalate(self, group: AlertGroup, any_visible: bool, all_resolved: bool, acked: bool, now: float,
                        jump: str = "") -> tuple[tuple[str, ...], tuple[str, ...]]:
        """(receivers, receivers to tell at once) for a group whose receiver is an escalation policy.

        `jump` (the reason, e.g. a failed remediation) reaches the next level now as well."""
        policy = self._policies[group.receiver]
        state = self._escalations.get(group.key)
        if state is None:
            if not any_visible or all_resolved:
                return (), ()
            state = esc.start(now)
        step = esc.advance(policy, state, now, acked=acked, repeat_interval=group.timing.repeat_interval)
        new_state, receivers, newly = step.state, step.receivers, step.newly_reached
        jumped = ()
        if jump and not acked and not all_resolved:
            new_state, jumped = esc.jump(policy, new_state)
            if jumped:
                receivers = esc.receivers_of(policy, new_state)
                newly = tuple(dict.fromkeys([*newly, *jumped]))
        if new_state.level > state.level or new_state.cycle > state.cycle:
            data = {**self._group_info(group), "policy": policy.name, "level": new_state.level,
                    "cycle": new_state.cycle, "receivers": list(newly)}
            if jumped:
                data["reason"] = jump   # reached early: the scheduled time did not come, a failure did
                log.info("escalation.level group=%s policy=%s level=%d receivers=%s (at once: %s)",
                         group.key, policy.name, new_state.level, ",".join(jumped), jump.splitlines()[0][:200])
            await self._store.append_event(Event(now, "escalation.level", data))
        if new_state != state:
            self._escalations[group.key] = new_state
            await self._store.save_group_state(group.key, new_state.to_dict())
        return receivers, newly

    async def _dispatch_group(self, group: AlertGroup, snapshot: Sequence[Alert], now: float, *, reason: str, force: bool,
                              escalation_only: bool = False, jump: bool = False) -> set[str]:
        """Tell the group's receivers what changed; returns the resolved alerts held for a remediation's verdict."""
        flap = self._flap.get(group.key)
        if flap is not None and not force:
            was_flapping = flap.flapping
            flap = self._flap[group.key] = damping.settle(self._flap_settings, flap, now)
            if was_flapping and not flap.flapping:
                await self._flapping_changed(group, flap, now)
            if flap.flapping:
                if flap.summary_sent:
                    return set()  # collapsed: one summary went out; the next word is when the group is stable
                self._flap[group.key] = dataclasses.replace(flap, summary_sent=True)
                changes = sum(1 for t in flap.flips if t > now - self._flap_settings.window)
                reason = (f"flapping: {changes} state changes within {self._flap_settings.window:g}s; "
                          f"notifications paused until stable for {self._flap_settings.quiet:g}s")
                force = True
        firing = [a for a in snapshot if is_firing(a)]
        waiting = self._resolved_holds(snapshot, now)
        resolved = [a for a in snapshot if not is_firing(a) and a.fingerprint not in waiting]
        # an alert waiting for its verdict is not told resolved yet: like a held firing alert, it stays known
        held = (self._held(group, firing, now) if not force else set()) | waiting
        visible = [a for a in firing if a.fingerprint not in held]
        acked = self._controls.ack_of(group.key, now) is not None
        if group.receiver in self._policies:
            receivers, newly = await self._escalate(group, bool(visible), not firing and not waiting, acked, now,
                                                    jump=reason if jump else "")
        elif group.receiver in self._integrations:
            receivers, newly = (group.receiver,), ()
        else:
            log.error("group %s routes to unknown receiver %r; notice not sent", group.key, group.receiver)
            return waiting
        if escalation_only:
            receivers = newly
        former = [] if escalation_only else await self._former_receivers(group, receivers)
        by_fp = {a.fingerprint: a for a in snapshot}
        dedup_key = dedup_key_for(group.key)
        for receiver in (*receivers, *former):
            # A former receiver hears no new firing alert and no repeat: only what it knows of resolving.
            now_visible, now_held = (visible, held) if receiver not in former else ([], held | {a.fingerprint for a in visible})
            for integ in self._integrations.get(receiver, []):
                last = await self._outbox.last_record(group.key, integ.key)
                d = decide(
                    last, fingerprints(now_visible), sorted(now_held), fingerprints(resolved),
                    send_resolved=integ.send_resolved, repeat_interval=group.timing.repeat_interval, now=now,
                    repeat_allowed=not acked, force=force or receiver in newly,
                )
                if not d.send:
                    continue
                if force and not d.firing and (last is None or not last.firing_fingerprints):
                    continue  # nothing this receiver knows of is firing: nothing to say
                record = NotificationRecord(
                    group_key=group.key, receiver=integ.key, status="firing" if d.firing else "resolved", sent_at=now,
                    dedup_key=dedup_key, firing_fingerprints=d.record_firing, resolved_fingerprints=d.record_resolved,
                )
                if d.record_firing:
                    self._remember_dedup_key(dedup_key, group.key, d.record_firing, now)
                to_send = [by_fp[fp] for fp in (*d.firing, *d.resolved) if fp in by_fp]
                if last is None and not force and d.firing and damping.in_storm(self._storm_settings, self._created, now):
                    # A storm: this first notice joins the receiver's storm summary; the log learns it was told.
                    await self._outbox.record_without_sending((group.key, integ.key), record)
                    batch = self._storm_batch.setdefault(receiver, [])
                    batch.extend(a for a in to_send if is_firing(a) and a not in batch)
                    self._storm_groups.setdefault(receiver, []).append(group.key)
                    continue
                if not to_send:
                    # Resolved, but this integration does not want resolved notices: only the log learns it.
                    await self._outbox.record_without_sending((group.key, integ.key), record)
                    continue
                to_send.sort(key=lambda a: tuple(a.labels))
                notice = Notice.build(
                    receiver=receiver, group_key=group.key, group_labels=dict(group.labels),
                    alerts=[NoticeAlert.from_alert(a, is_firing(a)) for a in to_send],
                    external_url=self._external_url, reason=reason, created_at=now,
                )
                await self._outbox.enqueue(integ, notice, record, now)
        await self._save_dedup_log()   # the keys of the firing notices just accepted
        if not firing and not waiting and not escalation_only:
            await self._forget_group_state(group, now)
        return waiting

    def _flapping(self, key: str) -> bool:
        flap = self._flap.get(key)
        return flap is not None and flap.flapping

    @property
    def outbox(self) -> Outbox:
        """The delivery outbox (read-only use: per-integration states for the API)."""
        return self._outbox

    @property
    def alerting(self) -> Any:
        """The alerting config in force (the last one `update_config` accepted)."""
        return self._alerting

    @property
    def notification_templates(self) -> TemplateSet:
        """The template set the current integrations render with (fire drills use it too)."""
        return self._templates

    @property
    def external_url(self) -> str:
        """`api.external_url`: the base of the links in notices."""
        return self._external_url

    @property
    def damping_settings(self) -> tuple[damping.FlapSettings, damping.StormSettings]:
        """The flapping and storm settings in force (config.yaml's `damping:` section)."""
        return self._flap_settings, self._storm_settings

    async def _forget_group_state(self, group: AlertGroup, now: float) -> None:
        """Resolution ends escalation and any acknowledgement."""
        if self._escalations.pop(group.key, None) is not None:
            await self._store.delete_group_state(group.key)
        await self._controls.unacknowledge(group.key, now, self._group_info(group), reason="resolved")

    # -- internals: the loop's waiting ---------------------------------------------
    def _next_wake(self, now: float) -> float:
        times = [g.next_flush_at for g in self._groups.values()]
        times += [i.next_attempt_at for i in self._outbox.eligible_items()]
        for key, group in self._groups.items():
            policy, state = self._policies.get(group.receiver), self._escalations.get(key)
            if policy is not None and state is not None and state.paused_at is None and self._controls.ack_of(key, now) is None:
                at = esc.next_due(policy, state, group.timing.repeat_interval)
                if at is not None:
                    times.append(at)
        times += [a.expires_at for a in self._controls.acks.values() if a.expires_at is not None]
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
