"""Action runners by the spec's `action.type`: one module each, one line here."""

from __future__ import annotations

from typing import Callable

from watchdog.remediate.base import ActionRunner
from watchdog.remediate.command import CommandRunner
from watchdog.remediate.docker import DockerRunner
from watchdog.remediate.http import HttpRunner
from watchdog.remediate.systemd import SystemdRunner

RUNNERS: dict[str, Callable[[], ActionRunner]] = {
    "command": CommandRunner,
    "http": HttpRunner,
    "systemd": SystemdRunner,
    "docker": DockerRunner,
}


def default_runners() -> dict[str, ActionRunner]:
    return {kind: factory() for kind, factory in RUNNERS.items()}
