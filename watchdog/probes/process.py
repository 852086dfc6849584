"""Process probe: is a process alive (by pidfile, name or cmdline regex), its restarts, CPU and RSS."""

from __future__ import annotations

import asyncio
import re
from typing import TYPE_CHECKING, Any, Literal

from pydantic import ValidationInfo, field_validator, model_validator

from watchdog.probes import procfs
from watchdog.probes.base import ProbeResult, Regex, SeriesLabels, TargetBase, resolve_path

if TYPE_CHECKING:
    from watchdog.clock import Clock


class ProcessTarget(TargetBase):
    type: Literal["process"] = "process"
    pidfile: str | None = None
    # `name` is the target's name, so the process name (/proc/PID/comm, exact) is `process_name`
    process_name: str | None = None
    cmdline: Regex | None = None  # regex searched in the space-joined command line

    @field_validator("pidfile")
    @classmethod
    def _resolve_pidfile(cls, v: str | None, info: ValidationInfo) -> str | None:
        if v is not None and not v:
            raise ValueError("must not be empty")
        return resolve_path(v, info)

    @field_validator("process_name")
    @classmethod
    def _check_process_name(cls, v: str | None) -> str | None:
        if v is not None and not v:
            raise ValueError("must not be empty")
        return v


    @model_validator(mode="after")
    def _exactly_one_selector(self) -> "ProcessTarget":
        given = [n for n in ("pidfile", "process_name", "cmdline") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of pidfile, process_name, cmdline")
        return self


class ProcessProbe:
    """Finds the process each run; a different (pid, start time) than last time is a restart."""

    def __init__(self, target: ProcessTarget, *, clock: "Clock", session: Any = None, proc_root: str = "/proc") -> None:
        self.target = target
        self.clock = clock
        self._proc = proc_root
        self._cmdline = re.compile(target.cmdline) if target.cmdline is not None else None
        self._last: tuple[int, int] | None = None
        self.restarts = 0
        labels = SeriesLabels(target)
        self._l_success = labels("probe_success")
        self._l_duration = labels("probe_duration_seconds")
        self._l_up = labels("process_up")
        self._l_restarts = labels("process_restarts_total")
        self._l_cpu = labels("process_cpu_seconds_total")
        self._l_rss = labels("process_resident_memory_bytes")

    def _find(self) -> procfs.ProcessInfo | None:
        t = self.target
        if t.pidfile is not None:
            pid = procfs.read_pidfile(t.pidfile)
            return procfs.read_process(pid, self._proc) if pid is not None else None
        pids = procfs.find_processes(process_name=t.process_name, cmdline=self._cmdline, proc=self._proc)
        return procfs.oldest(pids, self._proc)

    def _describe_missing(self) -> str:
        t = self.target
        if t.pidfile is not None:
            pid = procfs.read_pidfile(t.pidfile)
            return f"pidfile {t.pidfile} missing or empty" if pid is None else f"process {pid} from {t.pidfile} is not running"
        if t.process_name is not None:
            return f"no process named {t.process_name!r}"
        return f"no process matches {t.cmdline!r}"

    async def probe(self) -> ProbeResult:
        start = self.clock.monotonic()
        # a pidfile check is two small reads; a name/cmdline match scans all of /proc, off the loop
        if self.target.pidfile is not None:
            info = self._find()
        else:
            info = await asyncio.to_thread(self._find)
        reason = "" if info is not None else await asyncio.to_thread(self._describe_missing)
        if info is not None:
            identity = (info.pid, info.start_ticks)
            if self._last is not None and identity != self._last:
                self.restarts += 1
            self._last = identity
        duration = self.clock.monotonic() - start
        ok = info is not None
        samples = [
            (self._l_success, 1.0 if ok else 0.0),
            (self._l_duration, duration),
            (self._l_up, 1.0 if ok else 0.0),
            (self._l_restarts, float(self.restarts)),
        ]
        if info is not None:
            samples.append((self._l_cpu, info.cpu_seconds))
            samples.append((self._l_rss, info.rss_bytes))
        return ProbeResult(ok, duration, reason, tuple(samples))

    async def close(self) -> None:
        return None
