"""What the HTTP API needs from the running daemon.

`watchdog.app.Daemon` implements :class:`ApiContext`; tests implement it with
real components. The API only reads through it (and asks it to reload), so the
API never holds a component that a reload may swap.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Mapping, Protocol, Sequence

from aiohttp import web
from pydantic import SecretStr

from watchdog.clock import Clock
from watchdog.model import Alert
from watchdog.state.base import Store


@dataclass(frozen=True, slots=True)
class TargetView:
    """One target as `/api/v1/targets` shows it."""

    name: str
    type: str
    instance: str
    labels: Mapping[str, str]
    health: str                     # up | down | unknown
    last_probe: float | None = None  # unix seconds
    last_duration: float | None = None  # seconds
    last_error: str = ""


@dataclass(frozen=True, slots=True)
class RuleGroupView:
    """One rule group as `/api/v1/rules` shows it; `rules` are already JSON-shaped (Prometheus's fields)."""

    name: str
    file: str
    interval: float
    health: str                     # ok | err | unknown
    last_error: str = ""
    last_duration: float = 0.0      # seconds
    last_evaluation: float | None = None
    rules: Sequence[Mapping[str, Any]] = field(default_factory=tuple)
    limit: int = 0
    query_offset: float = 0.0       # seconds


class QueryEngine(Protocol):
    """The PromQL engine as the query endpoints use it (results are formatted by watchdog.api.query)."""

    def query(self, expr: str, t: float) -> Any: ...

    def query_range(self, expr: str, start: float, end: float, step: float) -> Any: ...


class ApiContext(Protocol):
    clock: Clock

    @property
    def ready(self) -> bool:
        """Config loaded, store open, first probe round scheduled, not draining."""

    @property
    def store(self) -> Store: ...

    @property
    def engine(self) -> QueryEngine: ...

    @property
    def token(self) -> SecretStr | None:
        """Bearer token for mutating calls; None refuses them (403)."""

    @property
    def read_token(self) -> SecretStr | None:
        """Bearer token for reads; None leaves them open."""

    def alerts(self) -> Sequence[Alert]: ...

    def targets(self) -> Sequence[TargetView]: ...

    def rule_health(self) -> Sequence[RuleGroupView]: ...

    async def reload(self) -> tuple[bool, list[str]]:
        """Validate-then-swap reload; returns (ok, located error lines)."""


# The application key under which build_api stores the context.
CTX: web.AppKey[ApiContext] = web.AppKey("watchdog_api_ctx", ApiContext)
