"""Guardrails: may this remediation run for this alert now? (pure)

A function of (spec guardrails, run history, runs in flight, now) that
returns Allow or Deny(code, reason). Counting rules, chosen so a bad rule
cannot restart a fleet or loop a crashing service:

- attempts, not cycles: every run that started counts, including one
  interrupted by a crash; dry runs and refusals do not;
- cooldown runs per alert (fingerprint) from the end of its last run (or its
  start, if it never ended), and dry runs count, so shadow mode records once
  per cooldown instead of once per rule round;
- the circuit breaker is per spec: after `failures` failed runs in a row it
  opens; `reset_after` after the last failure it lets one trial run through
  (half-open); a success closes it, a failure opens it again;
- blast radius: at most N distinct targets per `window` for one spec.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

from watchdog.durations import format_duration
from watchdog.remediate.spec import Guardrails
from watchdog.state.base import RemediationRun

# statuses of runs that started an action (they spend the attempt budget)
ATTEMPT_STATUSES = frozenset({"running", "succeeded", "failed", "verified", "verification_failed", "interrupted"})
FAILED_STATUSES = frozenset({"failed", "verification_failed"})
SUCCESS_STATUSES = frozenset({"succeeded", "verified"})
COOLDOWN_STATUSES = ATTEMPT_STATUSES | {"dry_run"}


@dataclass(frozen=True, slots=True)
class Allow:
    dry_run: bool = False
    half_open: bool = False     # this run is the circuit breaker's trial


@dataclass(frozen=True, slots=True)
class Deny:
    code: str       # kill_switch | in_progress | cooldown | max_attempts | breaker_open | blast_radius | max_concurrent | global_concurrency | silenced
    reason: str


Decision = Allow | Deny


def _ref_time(run: RemediationRun) -> float:
    return run.ended_at if run.ended_at is not None else (run.started_at if run.started_at is not None else run.created_at)


def breaker_state(guardrails: Guardrails, history: Sequence[RemediationRun], now: float) -> tuple[str, float | None]:
    """("closed" | "open" | "half_open", time of the failure that opened it)."""
    breaker = guardrails.breaker
    if breaker is None:
        return "closed", None
    streak = 0
    last_failure: float | None = None
    for run in sorted(history, key=lambda r: r.created_at, reverse=True):
        if run.status in FAILED_STATUSES:
            streak += 1
            if last_failure is None:
                last_failure = _ref_time(run)
            if streak >= breaker.failures:
                break
        elif run.status in SUCCESS_STATUSES:
            break
        # running, interrupted, dry runs, refusals: not the action's verdict; look further back
    if streak < breaker.failures or last_failure is None:
        return "closed", None
    if now < last_failure + breaker.reset_after:
        return "open", last_failure
    return "half_open", last_failure


def decide(
    guardrails: Guardrails,
    *,
    spec: str,
    fingerprint: str,
    target: str,
    history: Iterable[RemediationRun],
    in_flight: Iterable[RemediationRun],
    now: float,
    kill_switch: bool = False,
    dry_run: bool = False,
    max_in_flight_total: int | None = None,
) -> Decision:
    """Decide one candidate run. `history` is this spec's runs (any order); `in_flight` all runs in progress."""
    if kill_switch:
        return Deny("kill_switch", "the global remediation kill switch is on")
    history = [r for r in history if r.spec == spec]
    in_flight = list(in_flight)
    mine = [r for r in in_flight if r.spec == spec]
    if any(r.alert_fingerprint == fingerprint for r in mine):
        return Deny("in_progress", "a run for this alert is still in progress")

    for_alert = [r for r in history if r.alert_fingerprint == fingerprint]
    recent = [r for r in for_alert if r.status in COOLDOWN_STATUSES]
    if recent and guardrails.cooldown > 0:
        last = max(recent, key=_ref_time)
        since = now - _ref_time(last)
        if since < guardrails.cooldown:
            return Deny("cooldown", f"cooldown: last run {format_duration(max(since, 0))} ago (cooldown {format_duration(guardrails.cooldown)})")

    window_start = now - guardrails.window
    attempts = [r for r in for_alert if r.status in ATTEMPT_STATUSES and r.created_at > window_start]
    if len(attempts) >= guardrails.max_attempts:
        return Deny("max_attempts", f"max attempts reached: {len(attempts)} in the last {format_duration(guardrails.window)} (max {guardrails.max_attempts})")

    state, opened_at = breaker_state(guardrails, history, now)
    if state == "open":
        assert guardrails.breaker is not None and opened_at is not None
        return Deny("breaker_open", f"circuit breaker open after {guardrails.breaker.failures} failed runs in a row; half-opens in {format_duration(opened_at + guardrails.breaker.reset_after - now)}")
    if state == "half_open" and mine:
        return Deny("breaker_open", "circuit breaker half-open: waiting for the trial run")

    if guardrails.blast_radius is not None:
        targets = {r.target for r in history if r.status in ATTEMPT_STATUSES and r.created_at > window_start}
        targets |= {r.target for r in mine}
        if target not in targets and len(targets) >= guardrails.blast_radius:
            return Deny("blast_radius", f"blast radius: {len(targets)} distinct targets remediated in the last {format_duration(guardrails.window)} (max {guardrails.blast_radius})")

    if len(mine) >= guardrails.max_concurrent:
        return Deny("max_concurrent", f"{len(mine)} runs of this remediation in progress (max_concurrent {guardrails.max_concurrent})")
    if max_in_flight_total is not None and len(in_flight) >= max_in_flight_total:
        return Deny("global_concurrency", f"{len(in_flight)} remediations in progress (global limit {max_in_flight_total})")
    return Allow(dry_run=dry_run, half_open=state == "half_open")
