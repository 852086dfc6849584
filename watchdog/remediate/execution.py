"""Running a started action in the background: its result, verification, the verdict and the notice.

A runner failing, crashing or being cancelled at shutdown always ends as a recorded status
(failed / interrupted), never as an unretrieved task exception.
"""

from __future__ import annotations

import asyncio
import dataclasses
from dataclasses import dataclass
from typing import Any, Callable

from watchdog.clock import Clock
from watchdog.model import Alert
from watchdog.remediate import metrics
from watchdog.remediate.base import ActionContext, ActionResult, ActionRunner
from watchdog.remediate.recording import _tail, log
from watchdog.remediate.spec import RemediationSpec
from watchdog.remediate.verify import Landings, VectorEngine, expr_targets, verify_after
from watchdog.state.base import RemediationRun, Store


@dataclass
class _InFlight:
    run: RemediationRun
    task: asyncio.Task[None]


class RunExecution:
    """Mixed into `Remediator`: start a run's task, carry it to its verdict, clean up after it."""

    _store: Store
    _clock: Clock
    _engine: VectorEngine
    _in_flight: dict[int, _InFlight]
    _verifying: dict[str, tuple[int, RemediationSpec, float, float]]
    _verified_early: dict[int, str]
    _probe_now: Callable[[str], bool] | None
    landings: Landings

    _remember_note: Callable[[str, str, float], None]   # from VerifiedNotes (an annotation: must not shadow it)

    async def _start(self, spec: RemediationSpec, alert: Alert, run: RemediationRun, prepared: Any, runner: ActionRunner,
                     ctx: ActionContext, base: dict[str, Any], t: float) -> None:
        assert run.id is not None
        await self._event("remediation.started", {**base, "run_id": run.id, **run.action}, t)
        task = asyncio.create_task(self._execute(spec, alert, run, prepared, runner, ctx, base), name=f"remediation-{run.id}")
        self._in_flight[run.id] = _InFlight(run, task)
        metrics.IN_FLIGHT.inc()
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
            self._remember_note(alert.fingerprint, run.note, run.created_at)
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
