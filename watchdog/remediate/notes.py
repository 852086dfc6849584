"""The verified note ("remediated by X after N s") handed to the dispatcher for the resolved notice.

Each rule round reports the plain resolved alert again, so the note is given again every round until the
dispatcher flushes the group; only for the episode the run was about. When the alert resolves while its
run is still being verified, the check runs at once so this round's notice can carry the note.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Sequence

from watchdog.model import Alert, AlertState
from watchdog.remediate.recording import log
from watchdog.remediate.spec import RemediationSpec
from watchdog.remediate.verify import VectorEngine

NOTE_MEMORY = 10_000               # verified notes kept for resolved notices (oldest dropped first)
NOTE_ANNOTATION = "remediation"    # the resolved alert's annotation carrying "remediated by X after N s"


class VerifiedNotes:
    """Mixed into `Remediator`: the notes of verified runs and the runs still being verified."""

    _controls: Any
    _engine: VectorEngine
    _notes: dict[str, str]
    _note_runs: dict[str, float]
    _verifying: dict[str, tuple[int, RemediationSpec, float, float]]
    _verified_early: dict[int, str]

    def _remember_note(self, fingerprint: str, note: str, run_created_at: float) -> None:
        self._notes[fingerprint] = note
        self._note_runs[fingerprint] = run_created_at
        while len(self._notes) > NOTE_MEMORY:
            oldest = next(iter(self._notes))
            del self._notes[oldest]
            self._note_runs.pop(oldest, None)

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
