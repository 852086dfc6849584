"""The Probe protocol, its result, and the config fields every target shares.

A probe type is one module (its pydantic model + its Probe class) plus one
line in `registry.py`. Probes never raise for target misbehaviour: whatever
the target does becomes `ProbeResult(success=False, reason=...)`.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from typing import TYPE_CHECKING, Annotated, Any, Iterable, Mapping, Protocol
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, ValidationInfo, field_validator, model_validator

from watchdog.durations import Duration
from watchdog.model import METRIC_NAME, Labels

if TYPE_CHECKING:  # pragma: no cover - typing only
    import aiohttp

    from watchdog.clock import Clock

TARGET_NAME_RE = re.compile(r"^[A-Za-z0-9_.:-]+$")
LABEL_NAME_RE = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")
# Labels the probe sets itself; a target's `labels` may not override them
# (`job` has its own field, `instance` is defined by the contract per type).
RESERVED_LABELS = frozenset({"target", "job", "instance"})
DEFAULT_TIMEOUT_CAP = 10.0


def check_regex(pattern: str) -> str:
    """Validator: a Python-compilable regex (config error on a bad one)."""
    try:
        re.compile(pattern)
    except re.error as e:
        raise ValueError(f"invalid regex: {e}") from None
    return pattern


def check_http_url(url: str) -> str:
    """Validator: an absolute http(s) URL with a host and a valid port."""
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https"):
        raise ValueError("must be an http:// or https:// URL")
    if not parts.hostname:
        raise ValueError("URL has no host")
    try:
        _ = parts.port  # urlsplit checks the port only when it is read
    except ValueError:
        raise ValueError("URL has an invalid port") from None
    return url


Regex = Annotated[str, AfterValidator(check_regex)]
HttpUrlStr = Annotated[str, AfterValidator(check_http_url)]


class TargetBase(BaseModel):
    """Fields shared by every target type. Subclasses pin `type` with a Literal."""

    model_config = ConfigDict(extra="forbid")

    name: str
    type: str
    interval: Duration | None = None  # None: inherit global.scrape_interval
    timeout: Duration | None = None  # None: min(interval, 10s)
    labels: dict[str, str] = {}
    job: str | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, v: str) -> str:
        if not v:
            raise ValueError("must not be empty")
        if not TARGET_NAME_RE.match(v):
            raise ValueError("may contain only letters, digits and _ . : -")
        return v

    @field_validator("interval")
    @classmethod
    def _check_interval(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than 0")
        return v

    @field_validator("timeout")
    @classmethod
    def _check_timeout(cls, v: float | None) -> float | None:
        if v is not None and v <= 0:
            raise ValueError("must be greater than 0")
        return v

    @field_validator("labels")
    @classmethod
    def _check_labels(cls, v: dict[str, str]) -> dict[str, str]:
        for name in v:
            if not LABEL_NAME_RE.match(name):
                raise ValueError(f"invalid label name {name!r}")
            if name.startswith("__"):
                raise ValueError(f"label name {name!r} is reserved (names starting with __)")
            if name in RESERVED_LABELS:
                raise ValueError(f"label {name!r} is set by the probe (use the `job` field for job)")
        return v

    @field_validator("job")
    @classmethod
    def _check_job(cls, v: str | None) -> str | None:
        if v is not None and not v:
            raise ValueError("must not be empty")
        return v

    @model_validator(mode="after")
    def _check_timeout_within_interval(self) -> "TargetBase":
        if self.interval is not None and self.timeout is not None and self.timeout > self.interval:
            raise ValueError("timeout must not be greater than interval")
        return self

    # -- derived values -------------------------------------------------
    @property
    def job_name(self) -> str:
        return self.job or self.name

    @property
    def instance(self) -> str:
        """The `instance` label (CONTRACT.md "Series that probes write"); types override."""
        return self.name

    def effective_interval(self, default_interval: float = 10.0) -> float:
        return self.interval if self.interval is not None else default_interval

    def effective_timeout(self, default_interval: float = 10.0, default_timeout: float = DEFAULT_TIMEOUT_CAP) -> float:
        if self.timeout is not None:
            return self.timeout
        return min(self.effective_interval(default_interval), default_timeout)

    def target_labels(self) -> dict[str, str]:
        """Labels on every series this target writes (without __name__)."""
        out = dict(self.labels)
        out["target"] = self.name
        out["job"] = self.job_name
        out["instance"] = self.instance
        return out


def resolve_path(path: str | None, info: ValidationInfo) -> str | None:
    """Resolve a relative path against the config file's directory.

    The config loader passes `context={"base_dir": ...}` to `validate()`;
    without it, paths stay as written (relative to the daemon's cwd).
    """
    if path is None or os.path.isabs(path):
        return path
    ctx: Mapping[str, Any] = info.context or {}
    base = ctx.get("base_dir")
    return os.path.normpath(os.path.join(str(base), path)) if base else path


@dataclass(frozen=True, slots=True)
class ProbeResult:
    success: bool
    duration: float
    reason: str  # "" on success, human-readable on failure
    samples: tuple[tuple[Labels, float], ...]  # every series written, with all labels


class Probe(Protocol):
    def __init__(self, target: Any, *, clock: "Clock", session: "aiohttp.ClientSession | None" = None) -> None: ...

    async def probe(self) -> ProbeResult:
        """Never raises for target misbehaviour; bounded by the target timeout."""
        ...

    async def close(self) -> None: ...


class SeriesLabels:
    """Pre-built `Labels` for a target's fixed series.

    Probes run thousands of times per second; their series' label sets never
    change between runs, so they are built once here and reused.
    """

    __slots__ = ("base", "_cache")

    def __init__(self, target: TargetBase) -> None:
        self.base = target.target_labels()
        self._cache: dict[tuple[str, tuple[tuple[str, str], ...]], Labels] = {}

    def __call__(self, metric: str, extra: Iterable[tuple[str, str]] = ()) -> Labels:
        extra_t = tuple(extra)
        key = (metric, extra_t)
        labels = self._cache.get(key)
        if labels is None:
            d = dict(self.base)
            d.update(extra_t)
            d[METRIC_NAME] = metric
            labels = Labels(d.items())
            if len(self._cache) < 4096:  # bound: perfdata labels come from the target
                self._cache[key] = labels
        return labels


REASON_MAX_CHARS = 300


def one_line_reason(text: str, limit: int = REASON_MAX_CHARS) -> str:
    """A failure reason as one bounded line: reasons may quote what a target sent (aiohttp's parser
    errors span several lines), and they go into one-line logs and the targets API."""
    flat = " ".join(text.split())
    return flat if len(flat) <= limit else flat[: limit - 3] + "..."


def timeout_reason(seconds: float) -> str:
    from watchdog.durations import format_duration

    return f"timeout after {format_duration(seconds)}"
