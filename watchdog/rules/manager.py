"""Group evaluation: runs the rules on their intervals, keeps alert state, persists it.

The pure parts (the state machine in `lifecycle.step`, query evaluation in the
Engine) decide; this module does the I/O around them: it writes recording
results and `ALERTS` series into the series store, saves alert states and
appends `alert.pending|firing|resolved` events to the Store on transitions
only, and hands every round's alerts to `on_alerts` (dispatcher, remediator).

A failing rule is recorded in its health (and metrics) and never stops the
loop; a failing Store write is logged and retried with the next change.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import math
from dataclasses import dataclass, field, replace
from typing import Any, Awaitable, Callable, Mapping, Sequence

from watchdog.clock import Clock
from watchdog.model import Alert, AlertState, Event, Labels, Sample
from watchdog.promql import template
from watchdog.promql.errors import PromQLError
from watchdog.rules import metrics
from watchdog.rules.lifecycle import RESOLVED_RETENTION, AlertInstance, Render, StepResult, Transition, step
from watchdog.rules.model import AlertingRule, RecordingRule, Rule, RuleGroup
from watchdog.rules.readers import ReaderIndex
from watchdog.rules.remote import RemoteQueryError
from watchdog.rules.restore import restored_active_at
from watchdog.rules.views import forget_metrics, rule_label as _rule_label, rule_view as _rule_view
from watchdog.state.base import AlertRecord, Store

log = logging.getLogger(__name__)

OnAlerts = Callable[[list[Alert], float], Awaitable[None]]
_TEMPLATE_PREFIX = "template: "
# Prometheus's --rules.alert.for-outage-tolerance and --rules.alert.for-grace-period
DEFAULT_OUTAGE_TOLERANCE = 3600.0
DEFAULT_FOR_GRACE_PERIOD = 600.0
LAST_ROUND_KEY = "rules.last_evaluation"   # Store kv: when the last round ran (the "down at" of a restart)
# A group that reads a series a probe just wrote is evaluated at once (between its grid evaluations),
# at most once per this many seconds per group: bounds the extra cost when many targets feed one group.
DEFAULT_EARLY_EVALUATION_GAP = 0.25


@dataclass
class _RuleState:
    rule: Rule
    alerts: dict[str, AlertInstance] = field(default_factory=dict)
    health: str = "unknown"
    last_error: str = ""
    last_evaluation: float | None = None
    last_duration: float = 0.0
    # the last evaluation failed as a whole (query error, limit, duplicate labelset);
    # False when it only had template errors, which Prometheus shows in the text alone
    failed: bool = False


@dataclass
class _GroupState:
    group: RuleGroup
    rules: list[_RuleState]
    interval: float
    next_eval: float | None = None
    last_evaluation: float | None = None
    last_duration: float = 0.0
    in_flight: asyncio.Future | None = None   # a remote group's evaluation running as its own task
    last_early: float | None = None           # last evaluation triggered by fresh samples (rate limit)

    @property
    def metric_label(self) -> str:
        return f"{self.group.file};{self.group.name}"   # Prometheus's rule_group label


async def _cancel_in_flight(groups: Sequence[_GroupState]) -> None:
    """Stop remote evaluations still waiting on their datasource (stop, or a reload rebinding them).

    They are cancelled while awaiting the query, before they change any state."""
    tasks = [gs.in_flight for gs in groups if gs.in_flight is not None and not gs.in_flight.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def _stable_offset(key: str, interval: float) -> float:
    """Where in each interval a group runs: spreads groups out, same across restarts."""
    h = int.from_bytes(hashlib.sha256(key.encode()).digest()[:8], "big")
    return (h / 2**64) * interval


def _next_aligned(offset: float, interval: float, after: float) -> float:
    return offset + interval * (math.floor((after - offset) / interval) + 1)


class RuleManager:
    def __init__(
        self,
        groups: list[RuleGroup],
        *,
        engine: Any,
        series: Any,
        store: Store,
        clock: Clock,
        on_alerts: OnAlerts | None = None,
        default_interval: float = 10.0,
        external_labels: Mapping[str, str] = {},
        external_url: str = "",
        outage_tolerance: float = DEFAULT_OUTAGE_TOLERANCE,
        for_grace_period: float = DEFAULT_FOR_GRACE_PERIOD,
        datasources: Mapping[str, Any] | None = None,
        early_evaluation_gap: float = DEFAULT_EARLY_EVALUATION_GAP,
    ) -> None:
        self.engine = engine
        self.series = series
        self.store = store
        self.clock = clock
        self.on_alerts = on_alerts
        self.default_interval = float(default_interval) if default_interval and default_interval > 0 else 10.0
        self.external_labels = dict(external_labels)
        self.external_url = external_url
        self.outage_tolerance = float(outage_tolerance)
        self.for_grace_period = float(for_grace_period)
        self._last_round_saved: float | None = None
        self._last_round: float | None = None
        self.rounds = 0                      # completed evaluation rounds (systemd WATCHDOG ties to this)
        self.evaluated = asyncio.Event()     # set after every round
        self._groups: list[_GroupState] = []
        # alerts of rules that went away (reload, or gone from the files across a restart):
        # resolved ones are reported until retention ends, so a firing notice gets its resolve
        self._orphans: dict[tuple[str, str], AlertInstance] = {}
        self._unsaved: dict[tuple[str, str], AlertRecord] = {}
        self._undeleted: set[tuple[str, str]] = set()
        self._unsent_events: list[Event] = []
        self._wake = asyncio.Event()
        self._flush_lock = asyncio.Lock()    # remote groups' rounds flush concurrently with the local one
        # rule file path (RuleGroup.file) -> remote datasource (async `vector(expr, t)`, `name`)
        self._datasources: dict[str, Any] = dict(datasources or {})
        # fresh samples -> early evaluation of the local groups that read them (None: off)
        self.early_evaluation_gap = early_evaluation_gap
        self._readers: ReaderIndex | None = None
        self._dirty: set[str] = set()     # group keys with samples newer than their last evaluation
        self.update_groups(groups)

    # -- configuration ------------------------------------------------------------

    def update_groups(self, groups: Sequence[RuleGroup], datasources: Mapping[str, Any] | None = None) -> None:
        """Swap in new groups (reload); alert state carries over by rule identity.

        `datasources` (rule file -> remote datasource) replaces the current binding when given.
        """
        if datasources is not None:
            self._datasources = dict(datasources)
        for gs in self._groups:   # a remote evaluation in flight may be on a datasource about to close
            if gs.in_flight is not None:
                gs.in_flight.cancel()
        old_rules = {rs.rule.identity: rs for gs in self._groups for rs in gs.rules}
        old_groups = {gs.group.key: gs for gs in self._groups}
        new: list[_GroupState] = []
        for g in groups:
            rules = []
            for rule in g.rules:
                previous = old_rules.pop(rule.identity, None)
                if previous is not None and previous.rule.kind == rule.kind:
                    rules.append(_RuleState(rule, previous.alerts, previous.health, previous.last_error, previous.last_evaluation, previous.last_duration))
                else:
                    if previous is not None:
                        old_rules[rule.identity] = previous
                    rules.append(_RuleState(rule))
            gs = _GroupState(g, rules, g.interval or self.default_interval)
            before = old_groups.get(g.key)
            if before is not None and before.interval == gs.interval:
                gs.next_eval, gs.last_evaluation, gs.last_duration = before.next_eval, before.last_evaluation, before.last_duration
            new.append(gs)
        now = self.clock.now()
        for rs in old_rules.values():
            try:
                self.series.drop_source(f"rule:{rs.rule.identity}", now)   # its recorded/ALERTS series go stale
            except Exception:  # the series store being odd must not block a reload
                log.exception("could not stale-mark the series of removed rule %s", rs.rule.identity)
            self._retire(rs.rule.identity, rs.alerts, now)
        forget_metrics([(gs.metric_label, [rs.rule for rs in gs.rules]) for gs in self._groups],
                       [(gs.metric_label, [rs.rule for rs in gs.rules]) for gs in new])
        self._groups = new
        self._readers = ReaderIndex(
            [(gs.group.key, [rs.rule.expr for rs in gs.rules]) for gs in new if gs.group.file not in self._datasources],
            self.engine.parse,
        ) if hasattr(self.engine, "parse") else None
        self._dirty.clear()
        self._wake.set()

    def series_appended(self, source: str, label_sets: Sequence[Labels]) -> None:
        """A probe or scrape of `source` just wrote these series: evaluate the groups that read them soon.

        Called by the daemon's series sink. The regular grid is untouched; this
        adds an evaluation right after the data lands (rate-limited per group by
        `early_evaluation_gap`), so an alert follows a probe by milliseconds
        instead of by an arbitrary phase of the evaluation grid. `for` durations
        keep Prometheus's meaning: they are measured from `activeAt` whenever
        the group is evaluated.
        """
        if self._readers is None or self.early_evaluation_gap is None:
            return
        try:
            keys = self._readers.groups_reading(source, label_sets)
        except Exception:  # odd labels must not break the probe path; the grid still evaluates
            log.debug("could not match the series of %s to rule groups", source, exc_info=True)
            return
        if keys:
            self._dirty |= keys
            self._wake.set()

    def _early_due(self, gs: _GroupState, now: float) -> float | None:
        """When the group's pending early evaluation may run (None: nothing pending)."""
        if gs.group.key not in self._dirty or gs.group.file in self._datasources:
            return None
        gap = self.early_evaluation_gap or 0.0
        return now if gs.last_early is None else max(now, gs.last_early + gap)

    def _retire(self, identity: str, alerts: Mapping[str, AlertInstance], t: float) -> None:
        """The rule is gone: its firing alerts resolve now, its pending ones are forgotten."""
        for fp, a in alerts.items():
            key = (identity, fp)
            if a.state is AlertState.FIRING:
                resolved = replace(a, state=AlertState.RESOLVED, resolved_at=t, keep_firing_since=None, last_evaluated=t)
                self._orphans[key] = resolved
                self._unsaved[key] = resolved.to_record(identity, t)
                data = Transition("alert.resolved", resolved).event_data(identity)
                self._unsent_events.append(Event(t, "alert.resolved", {**data, "reason": "rule removed"}))
            elif a.state is AlertState.RESOLVED:
                self._orphans[key] = a
            else:
                self._undeleted.add(key)

    # -- restore ---------------------------------------------------------------------

    async def restore(self) -> None:
        """Rebuild alert states from the Store so `for` continues across a restart.

        As Prometheus's RestoreForState: a pending alert of a rule whose `for` is at
        least the grace period has its active time shifted by the downtime, so the
        time spent down does not count as pending; if less than the grace period of
        its `for` would remain, it gets the grace period. After an outage longer than
        the outage tolerance pending alerts start afresh. Firing alerts stay firing
        (a firing notice went out, so they resolve through evaluation, with a notice).
        """
        try:
            records = await self.store.load_alerts()
        except Exception as e:
            log.error("could not load persisted alert states, starting without them: %s", e)
            return
        down_at = await self._last_round_time(records)
        rules = {rs.rule.identity: rs for gs in self._groups for rs in gs.rules if isinstance(rs.rule, AlertingRule)}
        now = self.clock.now()
        restored = 0
        for rec in records:
            try:
                inst = AlertInstance.from_record(rec)
            except (ValueError, TypeError) as e:
                log.warning("skipping unreadable alert state %s/%s: %s", rec.rule, rec.fingerprint, e)
                continue
            rs = rules.get(rec.rule)
            if rs is None:  # its rule left the files while we were down
                self._retire(rec.rule, {inst.fingerprint: inst}, now)
                continue
            if inst.state is AlertState.PENDING:
                assert isinstance(rs.rule, AlertingRule)
                active_at = restored_active_at(
                    inst.active_at, rs.rule.for_, down_at, now, self.outage_tolerance, self.for_grace_period
                )
                if active_at is None:
                    self._undeleted.add((rec.rule, inst.fingerprint))
                    continue
                if active_at != inst.active_at:
                    inst = replace(inst, active_at=active_at)
                    self._unsaved[(rec.rule, inst.fingerprint)] = inst.to_record(rec.rule, now)
            rs.alerts[inst.fingerprint] = inst
            restored += 1
        if restored:
            log.info("restored %d alert state(s)", restored)
        self._update_alert_gauge()

    async def _last_round_time(self, records: Sequence[AlertRecord]) -> float | None:
        try:
            text = await self.store.kv_get(LAST_ROUND_KEY)
            if text:
                return float(text)
        except Exception as e:  # an old database or an odd value: fall back to the records' own times
            log.warning("could not read the last evaluation time: %s", e)
        times = [r.updated_at for r in records if r.updated_at]
        return max(times) if times else None

    # -- evaluation -------------------------------------------------------------------

    async def run(self) -> None:
        """Evaluate every group on its interval until cancelled.

        Groups on our engine run in turn within a round. A group bound to a remote
        datasource runs as its own task (as Prometheus runs each group in its own
        goroutine), so a datasource that hangs until its timeout delays only its own
        groups; while its previous evaluation is still in flight a due group skips
        the iteration (counted as missed).
        """
        try:
            while True:
                now = self.clock.now()
                due = []
                early = []
                for gs in self._groups:
                    if gs.next_eval is None:
                        gs.next_eval = _next_aligned(_stable_offset(gs.group.key, gs.interval), gs.interval, now)
                    if gs.next_eval <= now:
                        due.append(gs)
                    elif self._early_due(gs, now) == now:
                        early.append(gs)
                        gs.last_early = now
                local = [gs for gs in due if gs.group.file not in self._datasources] + early
                # samples landing from here on need another evaluation; these see everything up to now
                self._dirty.difference_update(gs.group.key for gs in local)
                for gs in due:
                    if gs.group.file in self._datasources and (gs.in_flight is None or gs.in_flight.done()):
                        gs.in_flight = asyncio.ensure_future(self._round([gs], now))
                if local or not self._groups:
                    await self._round(local, now)
                for gs in due:
                    offset = _stable_offset(gs.group.key, gs.interval)
                    nxt = _next_aligned(offset, gs.interval, now)
                    missed = int(round((nxt - (gs.next_eval or nxt)) / gs.interval)) - 1
                    if missed > 0:
                        metrics.GROUP_ITERATIONS_MISSED.labels(gs.metric_label).inc(missed)
                    gs.next_eval = nxt
                nexts = [gs.next_eval for gs in self._groups if gs.next_eval is not None]
                nexts += [t for gs in self._groups for t in [self._early_due(gs, now)] if t is not None]
                wait = (min(nexts) if nexts else now + self.default_interval) - self.clock.now()
                await self._sleep_or_wake(max(wait, 0.0))
        finally:
            await _cancel_in_flight(self._groups)

    async def _sleep_or_wake(self, seconds: float) -> None:
        self._wake.clear()
        sleeper = asyncio.ensure_future(self.clock.sleep(seconds))
        waker = asyncio.ensure_future(self._wake.wait())
        try:
            await asyncio.wait({sleeper, waker}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (sleeper, waker):
                task.cancel()

    async def evaluate_all(self, t: float) -> None:
        """One round of every group at `t` (tests and scenarios drive time with this)."""
        await self._round(list(self._groups), t)

    async def _round(self, groups: list[_GroupState], t: float) -> None:
        for gs in groups:
            await self._evaluate_group(gs, t)
        self._expire_orphans(t)
        if groups:
            self._last_round = t
        await self._flush()
        self._update_alert_gauge()
        self.rounds += 1
        self.evaluated.set()
        if self.on_alerts is not None:
            try:
                await self.on_alerts(self.alerts(), t)
            except Exception:
                log.exception("an alert consumer failed on the round at %s", t)

    async def _evaluate_group(self, gs: _GroupState, t: float) -> None:
        started = self.clock.monotonic()
        for rs in gs.rules:
            rule_started = self.clock.monotonic()
            try:
                if isinstance(rs.rule, RecordingRule):
                    error = await self._evaluate_recording(rs.rule, gs.group, t)
                else:
                    error = await self._evaluate_alerting(rs, gs.group, t)
            except (PromQLError, RemoteQueryError) as e:   # the query's own failure: its message, as Prometheus shows it
                error = str(e)
            except Exception as e:  # an engine bug is this rule's failure, not the daemon's
                log.debug("rule %s failed", rs.rule.identity, exc_info=True)
                error = f"{type(e).__name__}: {e}"
            metrics.EVALUATIONS.inc()
            if error:
                metrics.EVALUATION_FAILURES.inc()
                if rs.health != "err" or rs.last_error != error:
                    log.warning("rule %s: evaluation failed: %s", rs.rule.identity, error)
            elif rs.health == "err":
                log.info("rule %s: evaluates again", rs.rule.identity)
            rs.health, rs.last_error = ("err", error) if error else ("ok", "")
            rs.failed = bool(error) and not error.startswith(_TEMPLATE_PREFIX)
            rs.last_evaluation = t
            rs.last_duration = self.clock.monotonic() - rule_started
            rule_label = _rule_label(rs.rule)
            metrics.RULE_HEALTHY.labels(gs.metric_label, rule_label).set(0 if error else 1)
            metrics.RULE_LAST_DURATION.labels(gs.metric_label, rule_label).set(rs.last_duration)
            if error:
                metrics.GROUP_FAILURES.labels(gs.metric_label).inc()
        gs.last_evaluation = t
        gs.last_duration = self.clock.monotonic() - started
        metrics.GROUP_LAST_DURATION.labels(gs.metric_label).set(gs.last_duration)
        metrics.GROUP_LAST_EVALUATION.labels(gs.metric_label).set(t)
        metrics.GROUP_RULES.labels(gs.metric_label).set(len(gs.rules))

    async def _query(self, group: RuleGroup, expr: str, t: float) -> list[Sample]:
        """The group's datasource answers if it has one, else the local engine."""
        remote = self._datasources.get(group.file)
        if remote is None:
            return self.engine.vector(expr, t)
        return await remote.vector(expr, t)

    async def _evaluate_recording(self, rule: RecordingRule, group: RuleGroup, t: float) -> str:
        eval_t = t - group.query_offset
        source = f"rule:{rule.identity}"
        try:
            samples = await self._query(group, rule.expr, eval_t)
            out: dict[Labels, float] = {}
            for s in samples:
                labels = s.labels.merged({"__name__": rule.record, **rule.labels})
                if labels in out:
                    raise ValueError("vector contains metrics with the same labelset after applying rule labels")
                out[labels] = s.value
            if group.limit and len(out) > group.limit:
                raise ValueError(f"exceeded limit of {group.limit} with {len(out)} series")
        except Exception as e:
            self.series.append_batch(source, [], eval_t)   # what it wrote before goes stale
            return str(e)
        self.series.append_batch(source, list(out.items()), eval_t)
        return ""

    async def _evaluate_alerting(self, rs: _RuleState, group: RuleGroup, t: float) -> str:
        rule = rs.rule
        assert isinstance(rule, AlertingRule)
        eval_t = t - group.query_offset
        samples = await self._query(group, rule.expr, eval_t)   # a query error keeps the state as it is
        res = step(rs.alerts, samples, rule, t, self._renderer(rule, group, eval_t), limit=group.limit)
        if res.template_errors:
            metrics.TEMPLATE_ERRORS.inc(len(res.template_errors))
        self._apply(rule, rs, res, t)
        self.series.append_batch(f"rule:{rule.identity}", res.series(t), eval_t)
        if res.error:
            return res.error
        if res.template_errors:
            return _TEMPLATE_PREFIX + res.template_errors[0]
        return ""

    def _renderer(self, rule: AlertingRule, group: RuleGroup, eval_t: float) -> Render:
        remote = self._datasources.get(group.file)

        def query(expr: str) -> list:
            if remote is not None:   # templates render synchronously; a remote query would block the loop
                raise RemoteQueryError(f"`query` in templates is not supported for rules on datasource {remote.name}")
            return self.engine.vector(expr, eval_t)

        def render(text: str, labels: Mapping[str, str], value: float) -> str:
            return template.render(
                text, labels=labels, value=value, external_labels=self.external_labels,
                query=query, external_url=self.external_url, name=f"__alert_{rule.name}",
            )

        return render

    def _apply(self, rule: AlertingRule, rs: _RuleState, res: StepResult, t: float) -> None:
        identity = rule.identity
        for fp in res.changed:
            if fp in res.alerts:
                self._unsaved[(identity, fp)] = res.alerts[fp].to_record(identity, t)
                self._undeleted.discard((identity, fp))
        for fp in res.forgotten:
            self._unsaved.pop((identity, fp), None)
            self._undeleted.add((identity, fp))
        for tr in res.transitions:
            self._unsent_events.append(Event(t, tr.kind, tr.event_data(identity)))
            log.info("%s %s %s", tr.kind, rule.name, tr.alert.labels)
        rs.alerts = res.alerts

    def _expire_orphans(self, t: float) -> None:
        for key, a in list(self._orphans.items()):
            if a.resolved_at is None or t - a.resolved_at > RESOLVED_RETENTION:
                del self._orphans[key]
                self._unsaved.pop(key, None)
                self._undeleted.add(key)

    async def persist(self) -> None:
        """Write what a round cancelled mid-way (stop during a slow remote query) left unsaved.

        The daemon calls this once the rule loop has stopped, so a transition already
        visible in alerts() is on the timeline and in the store after a clean stop.
        """
        await self._flush()

    async def _flush(self) -> None:
        """Write pending state changes and events; what fails stays queued for the next round."""
        async with self._flush_lock:
            await self._flush_locked()

    async def _flush_locked(self) -> None:
        if self._last_round is not None and self._last_round != self._last_round_saved:
            try:
                await self.store.kv_set(LAST_ROUND_KEY, repr(self._last_round))
                self._last_round_saved = self._last_round
            except Exception as e:
                log.error("could not persist the last evaluation time: %s", e)
        if self._unsaved:
            batch = dict(self._unsaved)
            try:
                await self.store.save_alerts(list(batch.values()))
                for key, rec in batch.items():
                    if self._unsaved.get(key) is rec:
                        del self._unsaved[key]
            except Exception as e:
                log.error("could not persist %d alert state(s): %s", len(batch), e)
        if self._undeleted:
            keys = sorted(self._undeleted)
            try:
                await self.store.delete_alerts(keys)
                self._undeleted.difference_update(keys)
            except Exception as e:
                log.error("could not delete %d alert state(s): %s", len(keys), e)
        while self._unsent_events:
            try:
                await self.store.append_event(self._unsent_events[0])
            except Exception as e:
                log.error("could not append %d event(s) to the timeline: %s", len(self._unsent_events), e)
                if len(self._unsent_events) > 10_000:   # bounded: drop the oldest rather than grow forever
                    del self._unsent_events[: len(self._unsent_events) - 10_000]
                break
            self._unsent_events.pop(0)

    # -- views -------------------------------------------------------------------------

    def alerts(self) -> list[Alert]:
        """Pending and firing alerts, and those resolved within the last 15 minutes."""
        out = []
        for gs in self._groups:
            for rs in gs.rules:
                for a in rs.alerts.values():
                    out.append(a.to_alert(generator=rs.rule.identity, generator_url=self.external_url))
        for (identity, _), a in self._orphans.items():
            out.append(a.to_alert(generator=identity, generator_url=self.external_url))
        return out

    def failed_rules(self) -> list[tuple[Rule, str]]:
        """Rules whose last evaluation failed (query error, limit, duplicate labelset), with the error.

        Template errors alone do not count: as in Prometheus they show in the text and the health only.
        """
        return [(rs.rule, rs.last_error) for gs in self._groups for rs in gs.rules if rs.failed]

    def health(self) -> list[dict]:
        """Per group (snake_case keys: name, file, interval, health, last_error, last_evaluation,
        last_duration) with its `rules` in Prometheus's /api/v1/rules shape."""
        out = []
        for gs in self._groups:
            rules = [_rule_view(rs) for rs in gs.rules]
            errors = [r for r in rules if r["health"] == "err"]
            evaluated = gs.last_evaluation is not None
            out.append({
                "name": gs.group.name,
                "file": gs.group.file,
                "interval": gs.interval,
                "limit": gs.group.limit,
                "query_offset": gs.group.query_offset,
                "health": ("err" if errors else "ok") if evaluated else "unknown",
                "last_error": errors[0]["lastError"] if errors else "",
                "last_evaluation": gs.last_evaluation,
                "last_duration": gs.last_duration,
                "rules": rules,
            })
        return out

    def _update_alert_gauge(self) -> None:
        counts = {s.value: 0 for s in (AlertState.PENDING, AlertState.FIRING, AlertState.RESOLVED)}
        for a in self.alerts():
            counts[a.state.value] = counts.get(a.state.value, 0) + 1
        for state, n in counts.items():
            metrics.ALERTS.labels(state).set(n)
