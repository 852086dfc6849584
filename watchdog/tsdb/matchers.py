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


_FLAG_GROUP = re.compile(r"\(\?([a-zA-Z]+)\)")


def translate_re2(pattern: str) -> str:
    """Rewrite RE2's mid-pattern flag groups (`a(?i)b`, `((?i)x)`) into Python's scoped form (`a(?i:b)`).

    In RE2 `(?i)` applies to the rest of the enclosing group, across `|`;
    Python only accepts global flags at the very start, so we open a `(?i:`
    there and close it at each `|` (reopening after) and at the group's end.
    """
    out: list[str] = []
    levels: list[list[str]] = [[]]  # scoped flag groups open at each group level
    i = 0
    in_class = False
    while i < len(pattern):
        c = pattern[i]
        if c == "\\":
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if in_class:
            if c == "]":
                in_class = False
            out.append(c)
            i += 1
            continue
        if c == "[":
            in_class = True
            out.append(c)
            if pattern[i + 1 : i + 2] == "]":
                out.append("]")
                i += 1
            i += 1
            continue
        m = _FLAG_GROUP.match(pattern, i)
        if m:
            out.append(f"(?{m.group(1)}:")
            levels[-1].append(m.group(1))
            i = m.end()
            continue
        if c == "(":
            levels.append([])
            out.append(c)
        elif c == ")" and len(levels) > 1:
            out.append(")" * len(levels.pop()))
            out.append(c)
        elif c == "|" and levels[-1]:
            flags = levels[-1]
            out.append(")" * len(flags))
            out.append("|")
            out.append("".join(f"(?{f}:" for f in flags))
        else:
            out.append(c)
        i += 1
    out.append(")" * sum(len(level) for level in levels))
    return "".join(out)


@lru_cache(maxsize=4096)
def compile_anchored(pattern: str) -> re.Pattern[str]:
    """Prometheus anchors every label regex at both ends; DOTALL because RE2's `.` matches newline there."""
    try:
        return re.compile(f"(?:{translate_re2(pattern)})\\Z", re.DOTALL)
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
