"""The `systemd` action runner: `systemctl <operation> -- <unit>`.

The unit name may be templated (`web@{{ $labels.instance }}.service`); the
rendered name must follow systemd's unit-name grammar, so a label value can
never become an option, a second unit or a pattern. systemctl is looked up
on the daemon's PATH (tests put a stand-in there) and run as an argv through
the same process runner as `command` actions (timeout kills the group).
"""

from __future__ import annotations

import os
import shutil
from dataclasses import dataclass
from typing import Any, Mapping

from watchdog.clock import Clock
from watchdog.remediate.base import ActionContext, ActionRefused, ActionResult
from watchdog.remediate.command import run_process
from watchdog.remediate.spec import SystemdAction, check_unit_name
from watchdog.remediate.templating import render_field

SYSTEMCTL_ENV = ("PATH", "LANG", "TZ", "SYSTEMD_LOG_LEVEL", "XDG_RUNTIME_DIR", "DBUS_SESSION_BUS_ADDRESS")


@dataclass(frozen=True, slots=True)
class PreparedSystemd:
    argv: tuple[str, ...]
    program: str
    unit: str
    operation: str
    timeout: float

    def describe(self) -> dict[str, Any]:
        return {"type": "systemd", "argv": list(self.argv), "program": self.program, "unit": self.unit, "operation": self.operation}


def render_unit(template: str, ctx: ActionContext) -> str:
    unit = render_field(template, ctx, "unit")
    try:
        return check_unit_name(unit)
    except ValueError as e:
        raise ActionRefused(f"unit: {e}") from None


class SystemdRunner:
    def __init__(self, environ: Mapping[str, str] | None = None) -> None:
        self._environ = environ

    @property
    def environ(self) -> Mapping[str, str]:
        return os.environ if self._environ is None else self._environ

    def prepare(self, action: SystemdAction, ctx: ActionContext) -> PreparedSystemd:
        unit = render_unit(action.unit, ctx)
        program = shutil.which(action.systemctl, path=self.environ.get("PATH", os.defpath))
        if program is None:
            raise ActionRefused(f"program {action.systemctl!r} not found on PATH")
        argv = [action.systemctl, "--no-ask-password"]
        if action.user_manager:
            argv.append("--user")
        argv += [action.operation, "--", unit]
        return PreparedSystemd(tuple(argv), program, unit, action.operation, action.timeout)

    async def execute(self, prepared: PreparedSystemd, *, run_id: int, ctx: ActionContext, clock: Clock) -> ActionResult:
        env = {name: self.environ[name] for name in SYSTEMCTL_ENV if name in self.environ}
        return await run_process((prepared.program, *prepared.argv[1:]), env=env, cwd="/", timeout=prepared.timeout, clock=clock)
