"""How a remediation run is recorded and told: the run row, the timeline, the log line, the immediate notice.

Mixed into `Remediator`; every step of a run goes through these so the audit trail has one shape.
"""

from __future__ import annotations

import dataclasses
import inspect
import logging
from typing import Any, Mapping

from watchdog.clock import Clock
from watchdog.durations import format_duration
from watchdog.model import Alert, Event
from watchdog.remediate.guardrails import breaker_state
from watchdog.remediate.spec import RemediationSpec
from watchdog.state.base import RemediationRun, Store

log = logging.getLogger("watchdog.remediate")

EVENT_OUTPUT_CHARS = 4096          # output tail copied into events and the alert annotation
HISTORY_LIMIT = 500                # newest runs of a spec the guardrails look at


def _accepts_escalate(notify_now: Any) -> bool:
    """Whether the notice callback takes `escalate=` (the dispatcher does; simple test doubles may not)."""
    try:
        params = inspect.signature(notify_now).parameters
    except (TypeError, ValueError):
        return False
    return "escalate" in params or any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())


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


class RunRecording:
    """Recording and notifying, over the remediator's store, clock and notice callback."""

    _store: Store
    _clock: Clock
    _notify_now: Any
    _notify_escalates: bool

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

    async def _record_end(self, run: RemediationRun, status: str, t: float, note: str, kind: str, base: dict[str, Any]) -> None:
        run.status, run.note, run.ended_at = status, note, t
        await self._safe_update(run)
        await self._event(kind, {**base, "run_id": run.id, "note": note}, t)

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
