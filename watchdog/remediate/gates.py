"""Gates before the guardrails: acknowledged, silenced or inhibited alerts, and denials told once.

The silence/ack questions are asked of the dispatcher (given as `controls`, or the owner of a bound
`notify_now`); a question that raises counts as "no" so one broken answer never stops remediation.
"""

from __future__ import annotations

import logging
from typing import Any, Callable, Mapping

from watchdog.model import Alert
from watchdog.remediate.guardrails import Deny
from watchdog.remediate.spec import RemediationSpec

log = logging.getLogger("watchdog.remediate")

DENIAL_MEMORY_SECONDS = 600        # forget a denial not seen again for this long
ESCALATING_DENIALS = {"max_attempts", "breaker_open", "no_change"}   # a human must take over: notify once
# a human's approval overrides the cooldown (they decided it is time); the budget, breaker and limits still hold
APPROVAL_IGNORED_DENIALS = frozenset({"cooldown"})


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


def alert_target(labels: Mapping[str, str], fingerprint: str) -> str:
    """What a run acts on, for the blast radius: the probe target, else the instance, else the alert."""
    return labels.get("target") or labels.get("instance") or fingerprint


class RemediationGates:
    """Mixed into `Remediator`: the hold before deciding, and the memory of denials already told."""

    _controls: Any
    _is_muted: Callable[[Alert], bool] | None
    _denials: dict[tuple[str, str], tuple[str, float]]

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
