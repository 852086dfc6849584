"""`require_approval`: runs parked until someone approves them through the API or CLI, or they expire.

A parked run keeps its prepared action in memory only, so a run a previous daemon left awaiting
approval is cancelled on the first round rather than started blindly.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Sequence

from watchdog.clock import Clock
from watchdog.durations import format_duration
from watchdog.model import Alert, AlertState
from watchdog.remediate import metrics
from watchdog.remediate.base import ActionContext, ActionRunner
from watchdog.remediate.gates import APPROVAL_IGNORED_DENIALS
from watchdog.remediate.guardrails import Allow, Deny, decide
from watchdog.remediate.recording import HISTORY_LIMIT, _event_base, _what, log
from watchdog.remediate.spec import RemediationSpec
from watchdog.state.base import RemediationRun, Store

__all__ = ["ApprovalError", "Approvals", "UnknownRemediation"]


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


class Approvals:
    """Mixed into `Remediator`: parking, approving, expiring and cancelling runs that await approval."""

    _store: Store
    _clock: Clock
    _deciding: asyncio.Lock
    _pending: dict[int, _Pending]
    _max_in_flight_total: int | None

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
