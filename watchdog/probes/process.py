"""Process probe: is a process alive (by pidfile, name or cmdline regex), its restarts, CPU and RSS."""

from __future__ import annotations

import re
from typing import Literal

from pydantic import ValidationInfo, field_validator, model_validator

from watchdog.probes.base import TargetBase, resolve_path


class ProcessTarget(TargetBase):
    type: Literal["process"] = "process"
    pidfile: str | None = None
    # `name` is the target's name, so the process name (/proc/PID/comm, exact) is `process_name`
    process_name: str | None = None
    cmdline: str | None = None  # regex searched in the space-joined command line

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

    @field_validator("cmdline")
    @classmethod
    def _check_cmdline(cls, v: str | None) -> str | None:
        if v is not None:
            try:
                re.compile(v)
            except re.error as e:
                raise ValueError(f"invalid regex: {e}") from None
        return v

    @model_validator(mode="after")
    def _exactly_one_selector(self) -> "ProcessTarget":
        given = [n for n in ("pidfile", "process_name", "cmdline") if getattr(self, n) is not None]
        if len(given) != 1:
            raise ValueError("set exactly one of pidfile, process_name, cmdline")
        return self
