"""Verification: does the fix hold, judged only by samples newer than the action's end?"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from watchdog.clock import Clock
from watchdog.remediate.spec import Verify


class VectorEngine(Protocol):
    def vector(self, expr: str, t: float, not_before: float | None = None) -> Sequence[Any]:
        """Instant vector of `expr` at `t`, ignoring samples with timestamp <= not_before."""


@dataclass(frozen=True, slots=True)
class VerifyOutcome:
    verified: bool
    at: float              # when the last evaluation ran
    after: float           # seconds from the action's end to `at`
    evaluations: int
    error: str = ""        # last evaluation error, if the expression failed at run time

    def to_json(self, verify: Verify) -> dict[str, Any]:
        out: dict[str, Any] = {
            "expr": verify.expr,
            "within": verify.within,
            "result": "verified" if self.verified else "failed",
            "at": self.at,
            "after_seconds": round(self.after, 3),
            "evaluations": self.evaluations,
        }
        if self.error:
            out["error"] = self.error
        return out


async def verify_after(verify: Verify, action_end: float, *, engine: VectorEngine, clock: Clock) -> VerifyOutcome:
    """Evaluate every `interval` until the result is non-empty or `within` has passed.

    An evaluation error (e.g. a many-to-many match that appears only at run
    time) is not fatal: the next tick may succeed; the last error is reported
    if the deadline passes.
    """
    deadline = action_end + verify.within
    evaluations = 0
    last_error = ""
    while True:
        now = clock.now()
        evaluations += 1
        try:
            if engine.vector(verify.expr, now, not_before=action_end):
                return VerifyOutcome(True, now, now - action_end, evaluations)
        except Exception as e:  # a failing query is a failed check, never a dead task
            last_error = f"{type(e).__name__}: {e}"
        if now >= deadline:
            return VerifyOutcome(False, now, now - action_end, evaluations, last_error)
        await clock.sleep(min(verify.interval, deadline - now))
