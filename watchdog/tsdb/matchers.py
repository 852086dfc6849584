"""Label matchers with Prometheus semantics (fully anchored regexes, empty = missing)."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from functools import lru_cache


class MatchOp(str, enum.Enum):
    EQ = "="
    NE = "!="
    RE = "=~"
    NRE = "!~"


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Prometheus anchors every label regex at both ends; DOTALL because RE2's `.` matches newline there."""
    try:
        return re.compile(f"(?:{pattern})\\Z", re.DOTALL)
    except re.error as exc:
        raise ValueError(f"invalid regular expression {pattern!r}: {exc}") from exc


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchOp
    value: str
    _regex: re.Pattern[str] | None = field(default=None, init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        op = MatchOp(self.op)
        object.__setattr__(self, "op", op)
        if op in (MatchOp.RE, MatchOp.NRE):
            object.__setattr__(self, "_regex", compile_anchored(self.value))

    def matches(self, value: str) -> bool:
        """`value` is "" when the label is missing, so an empty-matching matcher matches a missing label."""
        op = self.op
        if op is MatchOp.EQ:
            return value == self.value
        if op is MatchOp.NE:
            return value != self.value
        hit = self._regex.match(value) is not None  # type: ignore[union-attr]
        return hit if op is MatchOp.RE else not hit

    @property
    def matches_empty(self) -> bool:
        return self.matches("")

    def __str__(self) -> str:
        escaped = self.value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
        return f'{self.name}{self.op.value}"{escaped}"'
