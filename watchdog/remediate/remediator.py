"""The remediator: firing alerts -> guarded, recorded, verified actions.

After every rule round `on_alerts` picks, for each firing alert, the first
spec whose matchers match, asks the guardrails, records the run *before* it
starts, and runs it as a background task (a slow action never delays the
rule loop). The task records each step on the run and the timeline, verifies
the fix against samples newer than the action's end, and on any failure
sends one notice at once with the output tail attached.

Issue-7 gates: an acknowledged group is never remediated automatically; a
silenced or inhibited alert only with `when_silenced: run` (both asked of the
dispatcher); `requires_change` needs a matching recent change (else a human
is told); `require_approval` parks the run as `awaiting_approval` until
`approve()` or its expiry; a failure that opens the circuit breaker says so
in its notice. A verified fix's note ("remediated by X after N s") is handed
back to the dispatcher as the resolved alert's `remediation` annotation.
"""

from __future__ import annotations

import asyncio
import dataclasses
import inspect
import logging
from dataclasses import dataclass
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from watchdog.clock import Clock
from watchdog.durations import format_duration
from watchdog.model import Alert, AlertState, Event, Labels
from watchdog.remediate import metrics
from watchdog.remediate.base import ActionContext, ActionRefused, ActionResult, ActionRunner
from watchdog.remediate.changes import change_forwarder, change_json, find_change, no_change_reason
from watchdog.remediate.guardrails import Allow, Deny, breaker_state, decide
from watchdog.remediate.runners import default_runners
from watchdog.remediate.spec import RemediationSpec
from watchdog.remediate.verify import Landings, VectorEngine, expr_targets, verify_after
from watchdog.state.base import RemediationRun, Store

log = logging.getLogger("watchdog.remediate")

NotifyNow = Callable[..., Awaitable[None]]   # (alerts, reason[, escalate=True])
ProbeNow = Callable[[str], bool]              # ProbeScheduler.probe_now: probe a target at once
KILL_SWITCH_KEY = "remediation.kill_switch"
EVENT_OUTPUT_CHARS = 4096          # output tail copied into events and the alert annotation
HISTORY_LIMIT = 500                # newest runs of a spec the guardrails look at
DENIAL_MEMORY_SECONDS = 600        # forget a denial not seen again for this long
ESCALATING_DENIALS = {"max_attempts", "breaker_open", "no_change"}   # a human must take over: notify once
# a human's approval overrides the cooldown (they decided it is time); the budget, breaker and limits still hold
APPROVAL_IGNORED_DENIALS = frozenset({"cooldown"})
NOTE_MEMORY = 10_000               # verified notes kept for resolved notices (oldest dropped first)
NOTE_ANNOTATION = "remediation"    # the resolved alert's annotation carrying "remediated by X after N s"


class UnknownRemediation(LookupError):
    pass


class ApprovalError(ValueError):
    """The run cannot be approved (not awaiting approval, expired, kill switch on)."""


@dataclass
class _Pending:
    """A run parked until someone approves it (or it expires)."""

    spec: RemediationSpec
    alert: Alert
    run: RemediationRun
    prepared: Any
    runner: ActionRunner
    ctx: ActionContext
    base: dict[str, Any]
    expires_at: float


def _accepts_escalate(notify_now: Any) -> bool:
    """Whether the notice callback takes `escalate=` (the dispatcher does; simple test doubles may not)."""
    try:
        params = inspect.signature(notify_now).parameters
    except (TypeError, ValueError):
        return False
    return "escalate" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


def _controls_of(notify_now: Any) -> Any:
    """The dispatcher behind a bound `notify_now`, if it answers the silence/ack questions."""
    owner = getattr(notify_now, "__self__", None)
    return owner if owner is not None and hasattr(owner, "is_acknowledged") else None


def _ask(controls: Any, question: str, labels: Any) -> bool:
    method = getattr(controls, question, None)
    if method is None:
        return False
    try:
        return bool(method(labels))
    except Exception:  # a failing question must not stop remediation for every alert
        log.exception("dispatcher.%s failed", question)
        return False


@dataclass
class _InFlight:
    run: RemediationRun
    task: asyncio.Task[None]


def alert_target(labels: Mapping[str, str], fingerprint: str) -> str:
    """What a run acts on, for the blast radius: the probe target, else the instance, else the alert."""
    return labels.get("target") or labels.get("instance") or fingerprint


def _event_base(run: RemediationRun) -> dict[str, Any]:
    return {"labels": dict(run.labels), "remediation": run.spec, "fingerprint": run.alert_fingerprint,
            "trigger": run.trigger, "run_id": run.id}


def _what(action: Mapping[str, Any]) -> str:
    """One line naming what an action does, for notices and dry-run notes."""
    if action.get("argv") is not None:
        return str(list(action["argv"]))
    if action.get("type") == "http":
        return f"{action.get('method')} {action.get('url')}"
    if action.get("type") == "docker":
        return f"docker {action.get('operation')} {action.get('container')}"
    return str(dict(action))


def _tail(text: str, limit: int = EVENT_OUTPUT_CHARS) -> str:
    return text if len(text) <= limit else text[-limit:]


class Remediator:
    def __init__(
        self,
        specs: Iterable[RemediationSpec],
        *,
        store: Store,
        engine: VectorEngine,
        clock: Clock,
        notify_now: NotifyNow | None = None,
        external_labels: Mapping[str, str] | None = None,
        runners: Mapping[str, ActionRunner] | None = None,
        is_muted: Callable[[Alert], bool] | None = None,
        max_in_flight_total: int | None = None,
        controls: Any = None,
        change_events: Any = None,
        probe_now: ProbeNow | None = None,
    ) -> None:
        self._specs = list(specs)
        self._store = store
        self._engine = engine
        self._clock = clock
        self._notify_now = notify_now
        self._notify_escalates = notify_now is not None and _accepts_escalate(notify_now)
        # when an action ends, its target is probed at once and verification wakes when the sample lands
        self._probe_now = probe_now
        self.landings = Landings()
        self._external_labels = dict(external_labels or {})
        self._runners = dict(runners) if runners is not None else default_runners()
        self._is_muted = is_muted
        # silences, inhibition and acks: the dispatcher (given, or the owner of a bound notify_now)
        self._controls = controls if controls is not None else _controls_of(notify_now)
        self._pending: dict[int, _Pending] = {}
        self._orphans_checked = False   # runs a previous daemon left awaiting approval: cancelled on the first round
        self._max_in_flight_total = max_in_flight_total
        self._in_flight: dict[int, _InFlight] = {}
        self._denials: dict[tuple[str, str], tuple[str, float]] = {}
        self._notes: dict[str, str] = {}   # alert fingerprint -> "remediated by X after N s"
        # runs between the action's end and their verdict: fingerprint -> (run id, spec, action end).
        # When the alert resolves first, the check runs at once so the resolved notice can say so.
        self._verifying: dict[str, tuple[int, RemediationSpec, float, float]] = {}
        self._verified_early: dict[int, str] = {}   # run id -> note given to the resolved notice
        self._note_runs: dict[str, float] = {}      # fingerprint -> creation time of the run the note is about
        # one decision at a time: a manual run and a rule round must not both see "nothing in flight"
        self._deciding = asyncio.Lock()
        # `change_events:` config: recorded changes forwarded (PagerDuty Change Events) in the background
        self._changes = change_forwarder(change_events, store=store, clock=clock)
        self._forwarding: asyncio.Task[None] | None = None

    # -- configuration ----------------------------------------------------------
    @property
    def specs(self) -> list[RemediationSpec]:
        return list(self._specs)

    def update_specs(self, specs: Iterable[RemediationSpec]) -> None:
        """Reload: new alerts use the new specs; runs in flight finish with the spec they started with."""
        self._specs = list(specs)

    def match(self, labels: Mapping[str, str]) -> RemediationSpec | None:
        return next((s for s in self._specs if s.matches(labels)), None)

    # -- kill switch --------------------------------------------------------------
    async def kill_switch(self) -> bool:
        return (await self._store.kv_get(KILL_SWITCH_KEY)) == "on"

    async def set_kill_switch(self, on: bool, *, by: str = "") -> None:
        await self._store.kv_set(KILL_SWITCH_KEY, "on" if on else None)
        await self._event("remediation.kill_switch", {"on": on, "by": by})

    # -- queries ------------------------------------------------------------------
    async def runs(self, spec: str | None = None, limit: int = 100) -> list[RemediationRun]:
        """Newest first, for the API and `watchdog remediations`."""
        return await self._store.runs(spec=spec, limit=limit)

    def in_flight(self) -> list[RemediationRun]:
        return [f.run for f in self._in_flight.values()]

    def awaiting_approval(self) -> list[RemediationRun]:
        return [p.run for p in self._pending.values()]

    def samples_landed(self, label_sets: Sequence[Labels]) -> None:
        """The daemon's series sink: these series just got a sample (wakes verifications that read them)."""
        self.landings.landed(label_sets)

    def note_for(self, fingerprint: str) -> str | None:
        """The last "remediated by X after N s" note for an alert (for its resolved notice)."""
        return self._notes.get(fingerprint)

    # -- entry points -------------------------------------------------------------
    async def on_alerts(self, alerts: Sequence[Alert], t: float) -> None:
        """Called after every rule round; never blocks on an action and never raises for one alert."""
        # first, before anything can yield: the dispatcher flushes after this round
        await self._annotate_resolved(alerts, t)
        self._forward_changes()
        if not self._orphans_checked:
            self._orphans_checked = True
            await self._cancel_orphans()
        candidates = [(a, s) for a in alerts if a.state is AlertState.FIRING for s in [self.match(a.labels)] if s is not None]
        self._forget_old_denials(t)
        if self._pending:
            async with self._deciding:
                await self._settle_pending(alerts, t)
        if not candidates:
            return
        async with self._deciding:
            kill = await self.kill_switch()
            histories: dict[str, list[RemediationRun]] = {}
            for alert, spec in candidates:
                try:
                    await self._consider(spec, alert, t, trigger="alert", dry_run=spec.dry_run, kill=kill, histories=histories)
                except Exception:  # one bad alert or spec must not stop the others
                    log.exception("remediation %s for alert %s failed before starting", spec.name, alert.name)

    async def run_manual(self, spec_name: str, labels: Mapping[str, str], *, dry_run: bool = False, wait: bool = False) -> RemediationRun:
        """`watchdog remediate NAME --label k=v`: same guardrails and recording; a denial is recorded as `skipped`."""
        spec = next((s for s in self._specs if s.name == spec_name), None)
        if spec is None:
            raise UnknownRemediation(f"no remediation named {spec_name!r}")
        now = self._clock.now()
        alert = Alert(labels=Labels.of(dict(labels)), annotations={}, state=AlertState.FIRING, active_at=now, generator="manual")
        async with self._deciding:
            run = await self._consider(spec, alert, now, trigger="manual", dry_run=dry_run or spec.dry_run,
                                       kill=await self.kill_switch(), histories={})
        assert run is not None  # manual denials are recorded, never silent
        if wait and run.id in self._in_flight:
            await asyncio.shield(self._in_flight[run.id].task)
        return run

    async def approve(self, run_id: int, by: str) -> RemediationRun:
        """Start a run that awaits approval; raises UnknownRemediation / ApprovalError."""
        async with self._deciding:
            pending = self._pending.get(run_id)
            if pending is None:
                run = await self._store.get_run(run_id)
                if run is None:
                    raise UnknownRemediation(f"no remediation run {run_id}")
                if run.status == "awaiting_approval":   # parked by a daemon that has since restarted
                    await self._cancel_orphan(run)
                raise ApprovalError(f"run {run_id} is not awaiting approval (status {run.status})")
            now = self._clock.now()
            if now >= pending.expires_at:
                await self._expire(pending, now)
                raise ApprovalError(f"run {run_id}: the approval window has passed")
            if await self.kill_switch():
                raise ApprovalError("the global remediation kill switch is on")
            # the budget and the breaker may have changed while it waited (other runs, manual runs)
            decision = decide(
                pending.spec.guardrails, spec=pending.spec.name, fingerprint=pending.alert.fingerprint,
                target=pending.run.target, history=await self._store.runs(spec=pending.spec.name, limit=HISTORY_LIMIT),
                in_flight=self.in_flight(), now=now, max_in_flight_total=self._max_in_flight_total,
            )
            if isinstance(decision, Deny) and decision.code not in APPROVAL_IGNORED_DENIALS:
                metrics.DENIED.labels(pending.spec.name, decision.code).inc()
                await self._event("remediation.approval_refused", {**pending.base, "run_id": run_id, "by": by or "unknown",
                                                                   "code": decision.code, "reason": decision.reason}, now)
                raise ApprovalError(f"run {run_id} cannot start now: {decision.reason}")
            del self._pending[run_id]
            run = pending.run
            run.status, run.approved_by, run.started_at = "running", by or "unknown", now
            run.note = f"approved by {run.approved_by}"
            if isinstance(decision, Allow) and decision.half_open:
                run.note += "; circuit breaker half-open: trial run"
            await self._store.update_run(run)
            await self._event("remediation.approved", {**pending.base, "run_id": run.id, "by": run.approved_by}, now)
            await self._start(pending.spec, pending.alert, run, pending.prepared, pending.runner, pending.ctx, pending.base, now)
            return run

    def _forward_changes(self) -> None:
        """One forwarding round at a time, off the rule loop (PagerDuty may be slow)."""
        if self._changes is None or (self._forwarding is not None and not self._forwarding.done()):
            return
        self._forwarding = asyncio.create_task(self._forward_round(), name="change-events")

    async def _forward_round(self) -> None:
        assert self._changes is not None
        try:
            await self._changes.forward_new()
        except Exception:   # the store failing must not surface as an unretrieved task exception
            log.exception("forwarding change events failed")

    async def forward_changes(self) -> None:
        """Forward what is pending now and wait for it (tests, `drain`)."""
        if self._forwarding is not None and not self._forwarding.done():
            await asyncio.shield(self._forwarding)
        if self._changes is not None:
            await self._forward_round()

    async def drain(self, timeout: float) -> None:
        """Shutdown: let runs in flight finish for up to `timeout`, then kill them (marked interrupted)."""
        if self._changes is not None:
            try:
                await asyncio.wait_for(self.forward_changes(), timeout)
            except asyncio.TimeoutError:
                log.warning("change events still pending at shutdown: forwarded after the restart")
            await self._changes.close()
        tasks = [f.task for f in self._in_flight.values()]
        if not tasks:
            return
        _, pending = await asyncio.wait(tasks, timeout=timeout)
        for task in pending:
            task.cancel()
        if pending:
            await asyncio.gather(*pending, return_exceptions=True)
        # a task cancelled before its first step never ran its own clean-up
        for run_id, flight in list(self._in_flight.items()):
            if flight.task.done():
                self._in_flight.pop(run_id, None)
                metrics.IN_FLIGHT.dec()
                await self._interrupted(flight.run, _event_base(flight.run))

    # -- deciding -----------------------------------------------------------------
    async def _consider(
        self, spec: RemediationSpec, alert: Alert, t: float, *, trigger: str, dry_run: bool, kill: bool,
        histories: dict[str, list[RemediationRun]],
    ) -> RemediationRun | None:
        fingerprint = alert.fingerprint
        labels = alert.labels.to_dict() if isinstance(alert.labels, Labels) else dict(alert.labels)
        target = alert_target(labels, fingerprint)
        if spec.name not in histories:
            histories[spec.name] = await self._store.runs(spec=spec.name, limit=HISTORY_LIMIT)
        decision: Allow | Deny | None = self._hold(spec, alert) if trigger == "alert" else None
        if decision is None and any(p.spec.name == spec.name and p.alert.fingerprint == fingerprint for p in self._pending.values()):
            decision = Deny("in_progress", "a run for this alert is awaiting approval")
        if decision is None:
            decision = decide(
                spec.guardrails, spec=spec.name, fingerprint=fingerprint, target=target,
                history=histories[spec.name], in_flight=self.in_flight(), now=t, kill_switch=kill,
                dry_run=dry_run, max_in_flight_total=self._max_in_flight_total,
            )
        change: dict[str, Any] | None = None
        if isinstance(decision, Allow) and spec.requires_change is not None:
            started = alert.active_at if trigger == "alert" else t
            rule = spec.requires_change
            found = find_change(await self._store.changes(since=started - rule.within, until=started, limit=200),
                                labels, rule, started)
            if found is None:
                decision = Deny("no_change", no_change_reason(labels, rule))
            else:
                change = change_json(found)
        run = RemediationRun(spec=spec.name, alert_fingerprint=fingerprint, labels=labels, status="running",
                             created_at=t, target=target, trigger=trigger, action={"type": spec.action.type})
        base = {"labels": labels, "remediation": spec.name, "fingerprint": fingerprint, "trigger": trigger}
        if isinstance(decision, Deny):
            metrics.DENIED.labels(spec.name, decision.code).inc()
            if trigger == "manual":
                return await self._record_final(run, "skipped", t, decision.reason, "remediation.skipped",
                                                {**base, "reason": decision.reason, "code": decision.code})
            await self._on_denied(spec, alert, decision, t, base)
            return None
        self._denials.pop((spec.name, fingerprint), None)

        ctx = ActionContext(remediation=spec.name, labels=labels, annotations=dict(alert.annotations), value=alert.value,
                            base_dir=spec.base_dir, external_labels=self._external_labels, change=change)
        runner = self._runners.get(spec.action.type)
        try:
            if runner is None:
                raise ActionRefused(f"no runner for action type {spec.action.type!r}")
            prepared = runner.prepare(spec.action, ctx)
        except ActionRefused as e:
            reason = f"refused: {e}"
            metrics.RUNS.labels(spec.name, "failed").inc()
            run = await self._record_final(run, "failed", t, reason, "remediation.failed", {**base, "reason": reason})
            await self._notify(alert, f"remediation {spec.name} refused to run: {e}", "")
            return run
        run.action = prepared.describe()
        if change is not None:
            run.action = {**run.action, "change": {k: change[k] for k in ("id", "service", "version", "previous_version")}}

        if decision.dry_run:
            note = f"dry run: would have run {_what(run.action)}"
            metrics.RUNS.labels(spec.name, "dry_run").inc()
            run = await self._record_final(run, "dry_run", t, note, "remediation.dry_run", {**base, **run.action, "note": note})
            await self._notify(alert, f"remediation {spec.name} (dry run) {note[len('dry run: '):]}", "")
            return run

        if decision.half_open:
            run.note = "circuit breaker half-open: trial run"
        if spec.require_approval and trigger == "alert":
            return await self._park(spec, alert, run, prepared, runner, ctx, base, t)
        run.started_at = t
        await self._store.add_run(run)   # recorded before it starts: a crash leaves it to be marked interrupted
        await self._start(spec, alert, run, prepared, runner, ctx, base, t)
        return run

    async def _start(self, spec: RemediationSpec, alert: Alert, run: RemediationRun, prepared: Any, runner: ActionRunner,
                     ctx: ActionContext, base: dict[str, Any], t: float) -> None:
        assert run.id is not None
        await self._event("remediation.started", {**base, "run_id": run.id, **run.action}, t)
        task = asyncio.create_task(self._execute(spec, alert, run, prepared, runner, ctx, base), name=f"remediation-{run.id}")
        self._in_flight[run.id] = _InFlight(run, task)
        metrics.IN_FLIGHT.inc()

    # -- gates ----------------------------------------------------------------------
    def _hold(self, spec: RemediationSpec, alert: Alert) -> Deny | None:
        """An acknowledged group is a human's; a silenced/inhibited alert only runs with when_silenced: run."""
        controls = self._controls
        if controls is not None and _ask(controls, "is_acknowledged", alert.labels):
            return Deny("acknowledged", "the alert's group is acknowledged: a human is on it")
        if spec.when_silenced == "run":
            return None
        muted = self._is_muted is not None and self._is_muted(alert)
        if muted or (controls is not None and (_ask(controls, "is_silenced", alert.labels) or _ask(controls, "is_inhibited", alert.labels))):
            return Deny("silenced", "the alert is silenced or inhibited (when_silenced: skip)")
        return None

    async def _park(self, spec: RemediationSpec, alert: Alert, run: RemediationRun, prepared: Any, runner: ActionRunner,
                    ctx: ActionContext, base: dict[str, Any], t: float) -> RemediationRun:
        expires_at = t + spec.approval_timeout
        run.status = "awaiting_approval"
        run.note = f"awaiting approval (expires in {format_duration(spec.approval_timeout)})"
        await self._store.add_run(run)
        assert run.id is not None
        self._pending[run.id] = _Pending(spec, alert, run, prepared, runner, ctx, base, expires_at)
        await self._event("remediation.awaiting_approval", {**base, "run_id": run.id, **run.action, "expires_at": expires_at}, t)
        await self._notify(alert, f"remediation {spec.name} awaits approval: watchdog approve {run.id} "
                                  f"(would run {_what(run.action)}; expires in {format_duration(spec.approval_timeout)})", "")
        return run

    async def _settle_pending(self, alerts: Sequence[Alert], t: float) -> None:
        """Expire runs nobody approved in time; drop those whose alert resolved meanwhile."""
        resolved = {a.fingerprint for a in alerts if a.state is AlertState.RESOLVED}
        for pending in list(self._pending.values()):
            if t >= pending.expires_at:
                await self._expire(pending, t)
            elif pending.alert.fingerprint in resolved:
                self._pending.pop(pending.run.id or -1, None)
                await self._record_end(pending.run, "cancelled", t, "cancelled: the alert resolved before approval",
                                       "remediation.approval_cancelled", pending.base)

    async def _cancel_orphans(self) -> None:
        """A run parked by a previous daemon cannot start (its prepared action is gone): cancel it, not leave it hanging."""
        try:
            runs = await self._store.runs(limit=HISTORY_LIMIT)
        except Exception:
            log.exception("could not look for runs left awaiting approval")
            return
        for run in runs:
            if run.status == "awaiting_approval" and run.id not in self._pending:
                await self._cancel_orphan(run)

    async def _cancel_orphan(self, run: RemediationRun) -> None:
        await self._record_end(run, "cancelled", self._clock.now(), "cancelled: the daemon restarted while it awaited approval",
                               "remediation.approval_cancelled", _event_base(run))

    async def _expire(self, pending: _Pending, t: float) -> None:
        self._pending.pop(pending.run.id or -1, None)
        note = f"approval expired: not approved within {format_duration(pending.spec.approval_timeout)}"
        await self._record_end(pending.run, "expired", t, note, "remediation.approval_expired", pending.base)
        await self._notify(pending.alert, f"remediation {pending.spec.name}: {note}; a human decides", "")

    async def _record_end(self, run: RemediationRun, status: str, t: float, note: str, kind: str, base: dict[str, Any]) -> None:
        run.status, run.note, run.ended_at = status, note, t
        await self._safe_update(run)
        await self._event(kind, {**base, "run_id": run.id, "note": note}, t)

    async def _annotate_resolved(self, alerts: Sequence[Alert], t: float) -> None:
        """Give the dispatcher the resolved alert again, carrying the verified note, before its resolved notice goes out."""
        feed = getattr(self._controls, "on_alerts", None)
        if feed is None or not (self._notes or self._verifying):
            return
        noted = []
        for alert in alerts:
            if alert.state is AlertState.RESOLVED and alert.fingerprint in self._verifying:
                self._verify_now(alert.fingerprint, t)
            note = self._notes.get(alert.fingerprint)
            # every round, not once: each round the rules report the plain resolved alert again, which
            # replaces ours in its group until the group is flushed (then the dispatcher ignores it)
            if alert.state is not AlertState.RESOLVED or note is None:
                continue
            if alert.active_at is not None and self._note_runs.get(alert.fingerprint, alert.active_at) < alert.active_at:
                continue   # the note is about an earlier episode of this alert
            noted.append(dataclasses.replace(alert, annotations={**dict(alert.annotations), NOTE_ANNOTATION: note}))
        if noted:
            try:
                await feed(noted, t)
            except Exception:
                log.exception("could not hand the remediation note to the dispatcher")

    async def _breaker_note(self, spec: RemediationSpec) -> str:
        """After a failure: if that opened the circuit breaker, say so on the timeline and in the notice."""
        if spec.guardrails.breaker is None:
            return ""
        try:
            history = await self._store.runs(spec=spec.name, limit=HISTORY_LIMIT)
        except Exception:
            return ""
        now = self._clock.now()
        state, _ = breaker_state(spec.guardrails, history, now)
        if state != "open":
            return ""
        breaker = spec.guardrails.breaker
        note = (f"circuit breaker opened after {breaker.failures} failed runs in a row: "
                f"no runs of {spec.name} for {format_duration(breaker.reset_after)}")
        await self._event("remediation.breaker_opened", {"remediation": spec.name, "note": note,
                                                         "failures": breaker.failures, "reset_after": breaker.reset_after}, now)
        return "; " + note

    async def _on_denied(self, spec: RemediationSpec, alert: Alert, decision: Deny, t: float, base: dict[str, Any]) -> None:
        """Record a denial once per change of reason (not on every rule round); escalate when the budget is spent."""
        key = (spec.name, alert.fingerprint)
        previous = self._denials.get(key)
        self._denials[key] = (decision.code, t)
        if previous is not None and previous[0] == decision.code:
            return
        if decision.code in ("in_progress", "cooldown"):
            return  # normal between attempts: no timeline noise
        log.info("remediation %s for %s not run: %s", spec.name, alert.name, decision.reason)
        await self._event("remediation.skipped", {**base, "reason": decision.reason, "code": decision.code}, t)
        if decision.code in ESCALATING_DENIALS:
            await self._notify(alert, f"remediation {spec.name} gave up: {decision.reason}", "")

    def _forget_old_denials(self, t: float) -> None:
        stale = [k for k, (_, seen) in self._denials.items() if t - seen > DENIAL_MEMORY_SECONDS]
        for k in stale:
            del self._denials[k]

    # -- running ------------------------------------------------------------------
    async def _execute(self, spec: RemediationSpec, alert: Alert, run: RemediationRun, prepared: Any,
                       runner: ActionRunner, ctx: ActionContext, base: dict[str, Any]) -> None:
        assert run.id is not None
        base = {**base, "run_id": run.id}
        try:
            result = await runner.execute(prepared, run_id=run.id, ctx=ctx, clock=self._clock)
            await self._after_action(spec, alert, run, result, base)
        except asyncio.CancelledError:
            await self._interrupted(run, base)
            raise
        except Exception as e:  # a bug in a runner becomes a recorded failure, not a dead daemon
            log.exception("remediation %s run %s crashed", spec.name, run.id)
            run.status, run.ended_at, run.note = "failed", self._clock.now(), f"internal error: {type(e).__name__}: {e}"
            await self._safe_update(run)
            metrics.RUNS.labels(spec.name, "failed").inc()
            await self._event("remediation.failed", {**base, "reason": run.note})
            await self._notify(alert, f"remediation {spec.name} failed: {run.note}" + await self._breaker_note(spec), "",
                               escalate=True)
        finally:
            self._in_flight.pop(run.id, None)
            metrics.IN_FLIGHT.dec()

    async def _after_action(self, spec: RemediationSpec, alert: Alert, run: RemediationRun, result: ActionResult,
                            base: dict[str, Any]) -> None:
        run.started_at, run.ended_at = result.started_at, result.ended_at
        run.exit_code, run.output_tail = result.exit_code, result.output_tail
        metrics.DURATION.labels(spec.name).observe(max(0.0, result.ended_at - result.started_at))
        output = _tail(result.output_tail)
        if not result.ok:
            run.status, run.note = "failed", result.reason
            await self._store.update_run(run)
            metrics.RUNS.labels(spec.name, "failed").inc()
            await self._event("remediation.failed", {**base, "exit_code": result.exit_code, "timed_out": result.timed_out,
                                                     "reason": result.reason, "output_tail": output}, result.ended_at)
            await self._notify(alert, f"remediation {spec.name} failed: {result.reason}" + await self._breaker_note(spec), output,
                               escalate=True)
            return
        run.status = "succeeded"
        await self._store.update_run(run)
        await self._event("remediation.succeeded", {**base, "exit_code": result.exit_code, "output_tail": output,
                                                    "duration_seconds": round(result.ended_at - result.started_at, 3)}, result.ended_at)
        if spec.verify is None:
            metrics.RUNS.labels(spec.name, "succeeded").inc()
            return
        self._verifying[alert.fingerprint] = (run.id, spec, result.ended_at, run.created_at)
        self._probe_targets(spec, alert)
        try:
            outcome = await verify_after(spec.verify, result.ended_at, engine=self._engine, clock=self._clock,
                                         landings=self.landings)
        finally:
            self._verifying.pop(alert.fingerprint, None)
            early = self._verified_early.pop(run.id, None)
        if early is not None and not outcome.verified:   # it held when the alert resolved: that is the verdict
            outcome = dataclasses.replace(outcome, verified=True)
        run.verify = outcome.to_json(spec.verify)
        if outcome.verified:
            run.status = "verified"
            run.note = early or f"remediated by {spec.name} after {outcome.after:.0f}s"
            self._notes[alert.fingerprint] = run.note
            self._note_runs[alert.fingerprint] = run.created_at
            while len(self._notes) > NOTE_MEMORY:
                oldest = next(iter(self._notes))
                del self._notes[oldest]
                self._note_runs.pop(oldest, None)
            await self._store.update_run(run)
            metrics.RUNS.labels(spec.name, "verified").inc()
            await self._event("remediation.verified", {**base, "note": run.note, "expr": spec.verify.expr,
                                                       "after_seconds": round(outcome.after, 3)}, outcome.at)
            return
        run.status = "verification_failed"
        run.note = f"not verified within {spec.verify.within:g}s: {spec.verify.expr}" + (f" ({outcome.error})" if outcome.error else "")
        await self._store.update_run(run)
        metrics.RUNS.labels(spec.name, "verification_failed").inc()
        await self._event("remediation.verification_failed", {**base, "expr": spec.verify.expr, "within": spec.verify.within,
                                                              "reason": run.note, "output_tail": output}, outcome.at)
        await self._notify(alert, f"remediation {spec.name}: {run.note}" + await self._breaker_note(spec), output,
                           escalate=True)

    def _verify_now(self, fingerprint: str, t: float) -> None:
        """The alert resolved while its run was still being verified: evaluate the check now (same rule: only
        samples newer than the action's end), so the resolved notice this round carries the note."""
        run_id, spec, action_end, _ = self._verifying[fingerprint]
        if run_id in self._verified_early or spec.verify is None:
            return
        try:
            holds = bool(self._engine.vector(spec.verify.expr, t, not_before=action_end))
        except Exception:  # the verification task reports query errors; here it just did not hold yet
            return
        if holds:
            note = f"remediated by {spec.name} after {max(t - action_end, 0.0):.0f}s"
            self._verified_early[run_id] = note
            self._notes[fingerprint] = note
            self._note_runs[fingerprint] = self._verifying[fingerprint][3]

    def _probe_targets(self, spec: RemediationSpec, alert: Alert) -> None:
        """Ask for a probe of the alert's target (and any target the check names) now, not at the next interval."""
        if self._probe_now is None or spec.verify is None:
            return
        targets = set(expr_targets(spec.verify.expr, self._engine))
        if alert.labels.get("target"):
            targets.add(alert.labels.get("target"))
        for target in sorted(targets):
            try:
                self._probe_now(target)
            except Exception:  # verification still sees the next scheduled probe
                log.exception("could not ask for an immediate probe of %s", target)

    async def _interrupted(self, run: RemediationRun, base: dict[str, Any]) -> None:
        previous = run.status
        run.status, run.ended_at = "interrupted", run.ended_at or self._clock.now()
        run.note = f"interrupted by shutdown (was {previous})"
        metrics.RUNS.labels(run.spec, "interrupted").inc()
        await self._safe_update(run)
        try:
            await self._event("remediation.interrupted", {**base, "note": run.note, "previous_status": previous})
        except Exception:
            log.exception("could not record the interruption of run %s", run.id)

    # -- recording ----------------------------------------------------------------
    async def _record_final(self, run: RemediationRun, status: str, t: float, note: str, kind: str, data: dict[str, Any]) -> RemediationRun:
        run.status, run.note, run.ended_at = status, note, t
        await self._store.add_run(run)
        await self._event(kind, {**data, "run_id": run.id}, t)
        return run

    async def _safe_update(self, run: RemediationRun) -> None:
        try:
            await self._store.update_run(run)
        except Exception:
            log.exception("could not update remediation run %s", run.id)

    async def _event(self, kind: str, data: dict[str, Any], t: float | None = None) -> None:
        # every step of a run is a state change: one log line each (the timeline has the details)
        log.info("%s %s%s", kind, data.get("remediation", ""), _log_detail(data))
        await self._store.append_event(Event(time=self._clock.now() if t is None else t, kind=kind, data=data))

    async def _notify(self, alert: Alert, reason: str, output: str, *, escalate: bool = False) -> None:
        """One notice at once (the dispatcher bypasses group and repeat intervals for it).

        `escalate`: a run that failed or was not verified also goes to the next escalation level."""
        if self._notify_now is None:
            return
        annotations = dict(alert.annotations)
        # the output tail, or at least why there is none, travels with the alert to every channel
        annotations["remediation_output"] = output or f"({reason})"
        try:
            alerts = [dataclasses.replace(alert, annotations=annotations)]
            if escalate and self._notify_escalates:
                await self._notify_now(alerts, reason, escalate=True)
            else:
                await self._notify_now(alerts, reason)
        except Exception:
            log.exception("immediate notice for %s failed", alert.name)


def _log_detail(data: dict[str, Any]) -> str:
    """Short, secret-free summary of an event for the log: alertname, run id, exit code, reason."""
    parts = []
    labels = data.get("labels")
    if isinstance(labels, dict) and labels.get("alertname"):
        parts.append(f"alert={labels['alertname']}")
    for key in ("run_id", "exit_code", "reason", "note"):
        value = data.get(key)
        if value not in (None, ""):
            parts.append(f"{key}={str(value).splitlines()[0][:200] if str(value) else value}")
    return (" " + " ".join(parts)) if parts else ""
