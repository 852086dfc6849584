"""What every action runner shares: the context an action runs in and its result.

A runner turns an action spec into something that can run in two steps:
`prepare()` renders it (pure: templates, refusals) so the run can be recorded
with its exact arguments before anything happens; `execute()` does the I/O.
New action types (http, systemd, docker) are one module implementing
`ActionRunner` plus one line in `watchdog.remediate.runners.RUNNERS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol

from watchdog.clock import Clock


class ActionRefused(Exception):
    """The rendered action is unsafe or impossible (hostile label value, missing executable, ...).

    Nothing ran; the message is the recorded reason.
    """


@dataclass(frozen=True, slots=True)
class ActionContext:
    """What an action may see of the alert that triggered it."""

    remediation: str                       # spec name
    labels: Mapping[str, str]              # the alert's labels (alertname included)
    annotations: Mapping[str, str] = field(default_factory=dict)
    value: float = float("nan")
    base_dir: str = "."                    # the remediation file's directory
    external_labels: Mapping[str, str] = field(default_factory=dict)
    change: Mapping[str, Any] | None = None  # the change (deploy) a `requires_change` spec matched: `$change`


@dataclass(frozen=True, slots=True)
class ActionResult:
    """Outcome of one action. `error` is set when it could not run, was refused or was killed."""

    exit_code: int | None
    output_tail: str
    timed_out: bool
    started_at: float
    ended_at: float
    error: str = ""

    @property
    def ok(self) -> bool:
        return not self.error and not self.timed_out and self.exit_code == 0

    @property
    def reason(self) -> str:
        """One line saying why it failed ("" when ok)."""
        if self.ok:
            return ""
        if self.error:
            return self.error
        if self.timed_out:
            return "timed out"
        return f"exit code {self.exit_code}"


class PreparedAction(Protocol):
    def describe(self) -> dict[str, Any]:
        """JSON-able description recorded on the run and the timeline (e.g. {"type": "command", "argv": [...]})."""


class ActionRunner(Protocol):
    def prepare(self, action: Any, ctx: ActionContext) -> PreparedAction:
        """Render the action for this alert; raises ActionRefused."""

    async def execute(self, prepared: Any, *, run_id: int, ctx: ActionContext, clock: Clock) -> ActionResult:
        """Run it; never raises for a failing action (the failure is in the result)."""
