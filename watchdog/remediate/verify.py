"""Verification: does the fix hold, judged only by samples newer than the action's end?

The expression is evaluated again as soon as a sample it reads lands (the
daemon's series sink tells `Landings`), and at least every `verify.interval`
(for series no probe writes, e.g. recorded ones). With the remediator asking
the probe scheduler to probe the target when the action ends, the verdict
follows the service's recovery by one probe's duration, not by up to an interval.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import Any, Protocol, Sequence

from watchdog.clock import Clock
from watchdog.model import Labels
from watchdog.promql.ast import VectorSelector
from watchdog.remediate.spec import Verify
from watchdog.rules.readers import selector_reads, vector_selectors


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


class Landings:
    """Fresh samples -> waiting verifications whose expression reads them. Not thread-safe (event loop only)."""

    def __init__(self) -> None:
        self._waiters: list[tuple[tuple[VectorSelector, ...] | None, asyncio.Future[None]]] = []

    def __len__(self) -> int:
        return len(self._waiters)

    def waiter(self, selectors: tuple[VectorSelector, ...] | None) -> asyncio.Future[None]:
        """A future set when samples matching `selectors` land (None: any samples)."""
        fut: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if len(self._waiters) > 1000:   # no landings for a while: drop the waiters already given up
            self._waiters = [w for w in self._waiters if not w[1].done()]
        self._waiters.append((selectors, fut))
        return fut

    def landed(self, label_sets: Sequence[Labels]) -> None:
        """Called with the label sets a probe or scrape just appended to the series store."""
        if not self._waiters:
            return
        keep = []
        for selectors, fut in self._waiters:
            if fut.done():
                continue
            if selectors is None or any(selector_reads(sel, labels) for sel in selectors for labels in label_sets):
                fut.set_result(None)
            else:
                keep.append((selectors, fut))
        self._waiters = keep


def expr_selectors(expr: str, engine: Any) -> tuple[VectorSelector, ...] | None:
    """The vector selectors of `expr` (None when the engine cannot tell: then any landing wakes)."""
    parse = getattr(engine, "parse", None)
    if parse is None:
        return None
    try:
        return tuple(vector_selectors(parse(expr)))
    except Exception:  # the evaluation reports the error; waking on any landing is the safe side
        return None


def expr_targets(expr: str, engine: Any) -> set[str]:
    """Targets the expression names with `target="..."` (the ones worth probing at once)."""
    return {m.value for sel in expr_selectors(expr, engine) or () for group in sel.matcher_groups
            for m in group if m.name == "target" and m.op.value == "="}


async def verify_after(verify: Verify, action_end: float, *, engine: VectorEngine, clock: Clock,
                       landings: Landings | None = None) -> VerifyOutcome:
    """Evaluate until the result is non-empty or `within` has passed.

    Evaluates at once, then whenever a sample the expression reads lands (with
    `landings`), and at least every `verify.interval`. An evaluation error
    (e.g. a many-to-many match that appears only at run time) is not fatal:
    the next one may succeed; the last error is reported if the deadline passes.
    """
    deadline = action_end + verify.within
    selectors = expr_selectors(verify.expr, engine) if landings is not None else None
    evaluations = 0
    last_error = ""
    while True:
        # the waiter exists before the evaluation, so a sample landing during it is not missed
        landed = landings.waiter(selectors) if landings is not None else None
        now = clock.now()
        evaluations += 1
        try:
            if engine.vector(verify.expr, now, not_before=action_end):
                return VerifyOutcome(True, now, now - action_end, evaluations)
        except Exception as e:  # a failing query is a failed check, never a dead task
            last_error = f"{type(e).__name__}: {e}"
        if now >= deadline:
            return VerifyOutcome(False, now, now - action_end, evaluations, last_error)
        sleeper = asyncio.ensure_future(clock.sleep(min(verify.interval, deadline - now)))
        try:
            await asyncio.wait({sleeper} if landed is None else {sleeper, landed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            sleeper.cancel()
            if landed is not None:
                landed.cancel()
