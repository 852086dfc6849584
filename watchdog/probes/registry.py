"""Probe types by their YAML `type`. Adding a type = one module + one line in each dict."""

from __future__ import annotations

from watchdog.probes.base import Probe, TargetBase
from watchdog.probes.command import CommandProbe, CommandTarget
from watchdog.probes.http import HttpProbe, HttpTarget
from watchdog.probes.process import ProcessProbe, ProcessTarget
from watchdog.probes.scrape import ScrapeProbe, ScrapeTarget
from watchdog.probes.tcp import TcpProbe, TcpTarget

TARGET_MODELS: dict[str, type[TargetBase]] = {
    "http": HttpTarget,
    "tcp": TcpTarget,
    "command": CommandTarget,
    "process": ProcessTarget,
    "scrape": ScrapeTarget,
}

PROBES: dict[str, type[Probe]] = {
    "http": HttpProbe,
    "tcp": TcpProbe,
    "command": CommandProbe,
    "process": ProcessProbe,
    "scrape": ScrapeProbe,
}
