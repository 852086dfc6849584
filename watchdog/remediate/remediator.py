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

This module holds the entry points and the decision; the rest is split by concern:
gates.py (ack/silence holds, denials), approvals.py (require_approval), execution.py
(the run's task and verdict), notes.py (the verified note for the resolved notice),
recording.py (run rows, timeline, log, immediate notices).
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any, Awaitable, Callable, Iterable, Mapping, Sequence

from watchdog.clock import Clock
from watchdog.model import Alert, AlertState, Labels
from watchdog.remediate import metrics
from watchdog.remediate.approvals import ApprovalError, Approvals, UnknownRemediation, _Pending
from watchdog.remediate.base import ActionContext, ActionRefused, ActionRunner
from watchdog.remediate.changes import change_forwarder, change_json, find_change, no_change_reason
from watchdog.remediate.execution import RunExecution, _InFlight
from watchdog.remediate.gates import RemediationGates, _controls_of, alert_target
from watchdog.remediate.guardrails import Allow, Deny, decide
from watchdog.remediate.notes import NOTE_ANNOTATION, VerifiedNotes
from watchdog.remediate.recording import HISTORY_LIMIT, RunRecording, _accepts_escalate, _event_base, _what
from watchdog.remediate.runners import default_runners
from watchdog.remediate.spec import RemediationSpec
from watchdog.remediate.verify import Landings, VectorEngine
from watchdog.state.base import RemediationRun, Store

# the names other modules import from here
__all__ = ["ApprovalError", "KILL_SWITCH_KEY", "NOTE_ANNOTATION", "Remediator", "UnknownRemediation", "alert_target"]

log = logging.getLogger("watchdog.remediate")

NotifyNow = Callable[..., Awaitable[None]]   # (alerts, reason[, escalate=True])
ProbeNow = Callable[[str], bool]              # ProbeScheduler.probe_now: probe a target at once
KILL_SWITCH_KEY = "remediation.kill_switch"


class Remediator(Approvals, RunExecution, VerifiedNotes, RemediationGates, RunRecording):
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

    def verifying(self, fingerprint: str) -> bool:
        """True while a run for this alert has no verdict yet (action running, or being verified) and its
        spec verifies: the dispatcher holds the alert's resolved notice meanwhile, so it can carry the note."""
        if fingerprint in self._verifying:
            return True
        specs = {s.name: s for s in self._specs}
        return any(f.run.alert_fingerprint == fingerprint and getattr(specs.get(f.run.spec), "verify", None) is not None
                   for f in self._in_flight.values())

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
