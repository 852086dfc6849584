"""Command probe: run a Nagios-style plugin (argv list, never a shell)."""

from __future__ import annotations

import asyncio
import os
import signal
from typing import TYPE_CHECKING, Any, Literal

from pydantic import Field, ValidationInfo, field_validator

from watchdog.probes.base import LABEL_NAME_RE, ProbeResult, SeriesLabels, TargetBase, resolve_path, timeout_reason
from watchdog.probes.nagios import STATUS_NAMES, UNKNOWN, nagios_status, parse_output

if TYPE_CHECKING:
    from watchdog.clock import Clock

MAX_REASON = 512
REAP_TIMEOUT = 5.0


class CommandTarget(TargetBase):
    type: Literal["command"] = "command"
    argv: list[str] = Field(min_length=1)
    env: list[str] = ["PATH"]  # names of the daemon's environment variables passed through
    cwd: str | None = None
    max_output_bytes: int = Field(64 << 10, gt=0)

    @field_validator("argv")
    @classmethod
    def _check_argv(cls, v: list[str], info: ValidationInfo) -> list[str]:
        if not v[0]:
            raise ValueError("argv[0] must not be empty")
        if any("\0" in a for a in v):
            raise ValueError("arguments must not contain NUL bytes")
        # like remediation commands: "dir/x" is relative to the config file, a bare name is on PATH
        if "/" in v[0]:
            v = [resolve_path(v[0], info) or v[0], *v[1:]]
        return v

    @field_validator("env")
    @classmethod
    def _check_env(cls, v: list[str]) -> list[str]:
        for name in v:
            if not LABEL_NAME_RE.match(name):
                raise ValueError(f"invalid environment variable name {name!r}")
        return v

    @field_validator("cwd")
    @classmethod
    def _resolve_cwd(cls, v: str | None, info: ValidationInfo) -> str | None:
        return resolve_path(v, info)


class OutputTooLarge(Exception):
    pass


class CommandProbe:
    """Runs the plugin in its own session so that a timeout kills it and everything it started."""

    def __init__(self, target: CommandTarget, *, clock: "Clock", session: Any = None) -> None:
        self.target = target
        self.clock = clock
        self._timeout = target.effective_timeout()
        labels = SeriesLabels(target)
        self._labels = labels
        self._l_success = labels("probe_success")
        self._l_duration = labels("probe_duration_seconds")
        self._l_status = labels("probe_command_status")

    def _env(self) -> dict[str, str]:
        return {k: os.environ[k] for k in self.target.env if k in os.environ}

    async def probe(self) -> ProbeResult:
        t = self.target
        start = self.clock.monotonic()
        status = UNKNOWN
        perfdata: list[tuple[str, float]] = []
        try:
            proc = await asyncio.create_subprocess_exec(
                *t.argv,
                stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.PIPE,
                stderr=asyncio.subprocess.STDOUT,
                env=self._env(),
                cwd=t.cwd,
                start_new_session=True,
            )
        except OSError as e:
            reason = f"cannot run {t.argv[0]}: {e.strerror or e}"
            return self._result(status, self.clock.monotonic() - start, reason, perfdata)
        try:
            async with asyncio.timeout(self._timeout):
                output = await self._read_output(proc)
                returncode = await proc.wait()
        except TimeoutError:
            await self._kill_group(proc)
            return self._result(status, self.clock.monotonic() - start, timeout_reason(self._timeout), perfdata)
        except OutputTooLarge:
            await self._kill_group(proc)
            reason = f"output larger than {t.max_output_bytes} bytes"
            return self._result(status, self.clock.monotonic() - start, reason, perfdata)
        except BaseException:
            await self._kill_group(proc)  # cancelled (reload/shutdown): leave no process behind
            raise
        duration = self.clock.monotonic() - start
        message, perfdata = parse_output(output.decode("utf-8", "replace"))
        status = nagios_status(returncode)
        if status == 0:
            reason = ""
        elif returncode < 0:
            reason = f"killed by signal {-returncode}"
        elif returncode not in STATUS_NAMES:
            reason = f"exit status {returncode} (UNKNOWN)" + (f": {message}" if message else "")
        else:
            reason = message or f"exit status {returncode} ({STATUS_NAMES[returncode]})"
        return self._result(status, duration, reason[:MAX_REASON], perfdata)

    async def _read_output(self, proc: asyncio.subprocess.Process) -> bytes:
        assert proc.stdout is not None
        cap = self.target.max_output_bytes
        chunks: list[bytes] = []
        size = 0
        while True:
            chunk = await proc.stdout.read(65536)
            if not chunk:
                return b"".join(chunks)
            size += len(chunk)
            if size > cap:
                raise OutputTooLarge
            chunks.append(chunk)

    @staticmethod
    async def _kill_group(proc: asyncio.subprocess.Process) -> None:
        """SIGKILL the plugin's process group (it leads it: start_new_session) and reap it."""
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        try:
            async with asyncio.timeout(REAP_TIMEOUT):
                await proc.wait()
        except TimeoutError:
            pass

    def _result(self, status: int, duration: float, reason: str, perfdata: list[tuple[str, float]]) -> ProbeResult:
        ok = status == 0
        samples = [(self._l_success, 1.0 if ok else 0.0), (self._l_duration, duration), (self._l_status, float(status))]
        # a label repeated in the output is one series: the last value wins
        unique = dict(perfdata)
        samples.extend((self._labels("probe_command_perfdata", (("perf", label),)), value) for label, value in unique.items())
        return ProbeResult(ok, duration, reason, tuple(samples))

    async def close(self) -> None:
        return None
