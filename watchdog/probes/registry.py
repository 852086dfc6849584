"""Probe types by their YAML `type`. Adding a type = one module + one line in each dict."""

from __future__ import annotations

from watchdog.probes.base import TargetBase
from watchdog.probes.command import CommandTarget
from watchdog.probes.http import HttpTarget
from watchdog.probes.process import ProcessTarget
from watchdog.probes.scrape import ScrapeTarget
from watchdog.probes.tcp import TcpTarget

TARGET_MODELS: dict[str, type[TargetBase]] = {
    "http": HttpTarget,
    "tcp": TcpTarget,
    "command": CommandTarget,
    "process": ProcessTarget,
    "scrape": ScrapeTarget,
}
