"""Command probe: run a Nagios-style plugin (argv list, never a shell)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, ValidationInfo, field_validator

from watchdog.probes.base import LABEL_NAME_RE, TargetBase, resolve_path


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
