"""Holding a resolved notice while a remediation of the alert awaits its verdict.

The closed loop's race (issue 7): the service can recover before the action
returns, so the alert resolves from samples older than the action's end and the
resolved notice would go out before the verification could say "remediated by
X after N s". While the Remediator reports `verifying(fingerprint)`, a resolved
alert is held at its group's flush: it counts as still firing-but-held for the
receivers that heard of it (`decide` keeps it known and says nothing), other
alerts of the group go out as usual. The hold ends

- when the alert carries the note (the `remediation` annotation) already;
- at the first rule round after the verdict (`on_alerts` hears the alert while
  `verifying` is false): the app feeds the dispatcher first and the remediator
  right after, which hands over the noted alert before the flush runs;
- at the latest `max_hold` seconds after it began (the notice then goes without
  the note; so does it after a failed verification).

Pure decisions, a small mixin of `Dispatcher` for its state.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from watchdog.alerting.grouping import AlertGroup, is_firing
from watchdog.model import Alert

log = logging.getLogger("watchdog.notify")

DEFAULT_MAX_HOLD = 30.0                   # seconds a resolved notice may wait for a verdict
NOTE_ANNOTATION = "remediation"           # where the remediator puts "remediated by X after N s"
HOLD_RECHECK = 1.0                        # the flush re-checks a held alert at least this often

Verifying = Callable[[str], bool]


@dataclass(slots=True)
class Hold:
    started_at: float
    released: bool = False                # a rule round came after the verdict


def hold_decision(hold: Hold | None, alert: Alert, verifying: bool, now: float, max_hold: float) -> tuple[bool, Hold | None]:
    """(hold this resolved alert now?, the hold state to keep). Pure."""
    if NOTE_ANNOTATION in alert.annotations:
        return False, None
    if hold is None:
        return (True, Hold(now)) if verifying else (False, None)
    if hold.released or now >= hold.started_at + max_hold:
        return False, None
    return True, hold


class ResolveHolds:
    """Mixed into Dispatcher: `_holds` by fingerprint, the remediator's `verifying` question."""

    _holds: dict[str, Hold]
    _verifying: Verifying | None
    _max_hold: float
    _external_labels: dict[str, str]

    def hold_resolved_while(self, verifying: Verifying | None, max_hold: float = DEFAULT_MAX_HOLD) -> None:
        """Wire the Remediator's `verifying(fingerprint) -> bool` (None: never hold)."""
        self._verifying, self._max_hold = verifying, max_hold

    def _ask_verifying(self, alert: Alert) -> bool:
        if self._verifying is None:
            return False
        # the remediator knows the alert as the rules reported it, before our external labels were added
        own = [k for k, v in self._external_labels.items() if alert.labels.get(k, None) == v]
        prints = {alert.fingerprint, alert.labels.without(*own).fingerprint()} if own else {alert.fingerprint}
        try:
            return any(self._verifying(fp) for fp in prints)
        except Exception:  # a failing question must not hold notices: send as before
            log.exception("remediation verifying() failed")
            return False

    def _resolved_holds(self, snapshot: Sequence[Alert], now: float) -> set[str]:
        """Fingerprints of resolved alerts in a flush snapshot whose notice waits for a verdict."""
        if self._verifying is None:
            return set()
        held: set[str] = set()
        for alert in snapshot:
            if is_firing(alert):
                continue
            fp = alert.fingerprint
            hold, state = hold_decision(self._holds.get(fp), alert, self._ask_verifying(alert), now, self._max_hold)
            if state is None:
                if fp in self._holds and not hold:
                    log.info("resolved notice for %s released after %.1fs", alert.name, now - self._holds[fp].started_at)
                self._holds.pop(fp, None)
            else:
                self._holds[fp] = state
            if hold:
                held.add(fp)
        return held

    def _hold_heard(self, alerts: Sequence[Alert], groups: Mapping[str, AlertGroup], t: float) -> list[str]:
        """A rule round reported held alerts: those whose verdict is in are released at the next flush.

        Returns the group keys to flush now."""
        due: list[str] = []
        for alert in alerts:
            hold = self._holds.get(alert.fingerprint)
            if hold is None or hold.released or self._ask_verifying(alert):
                continue
            hold.released = True
            due += [k for k, g in groups.items() if alert.fingerprint in g.alerts]
        return due

    def _hold_recheck_at(self, now: float) -> float | None:
        """When a held alert must be looked at again (its bound, or the periodic re-check)."""
        if not self._holds:
            return None
        return min(min(h.started_at + self._max_hold for h in self._holds.values()), now + HOLD_RECHECK)
