"""Alertmanager label matchers: `name="v"`, `name!="v"`, `name=~"re"`, `name!~"re"`.

Accepted forms, as Alertmanager accepts them in `matchers:` lists, silences,
inhibit rules and amtool:
  - one matcher: `alertname="DemoServiceDown"`, `severity=~"warn|crit"`
  - unquoted values: `alertname=DemoServiceDown` (surrounding spaces trimmed)
  - a list, braces optional: `{a="b", c=~"d"}` or `a="b",c=~"d"` (a trailing comma is allowed)
  - quoted label names (Alertmanager 0.27 UTF-8 names): `"service name"="x"`
  - escapes in quoted values: `\\"`, `\\\\`, `\\n`; any other backslash stays literal,
    so regexes like `"\\d+"` work as operators write them.

Regexes are fully anchored (`^(?:re)$`), as in Prometheus and Alertmanager.
A label that is absent has the value "" (so `x=""` matches when x is missing).
Invalid input raises ValueError with a message fit for a config error.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field
from typing import Iterable, Mapping, Sequence, Union

LabelsLike = Mapping[str, str]  # watchdog.model.Labels also has .get(name, default)


class MatchType(str, enum.Enum):
    EQUAL = "="
    NOT_EQUAL = "!="
    REGEX = "=~"
    NOT_REGEX = "!~"


@dataclass(frozen=True, slots=True)
class Matcher:
    name: str
    op: MatchType
    value: str
    _regex: re.Pattern[str] | None = field(default=None, compare=False, hash=False, repr=False)

    @classmethod
    def create(cls, name: str, op: MatchType | str, value: str) -> "Matcher":
        op = MatchType(op)
        if not name:
            raise ValueError("matcher label name must not be empty")
        regex = None
        if op in (MatchType.REGEX, MatchType.NOT_REGEX):
            try:
                regex = re.compile(f"^(?:{value})$")
            except re.error as e:
                raise ValueError(f"invalid regular expression {value!r} in matcher for {name!r}: {e}") from None
        return cls(name, op, value, regex)

    def matches(self, labels: LabelsLike) -> bool:
        actual = labels.get(self.name, "") or ""
        if self.op is MatchType.EQUAL:
            return actual == self.value
        if self.op is MatchType.NOT_EQUAL:
            return actual != self.value
        assert self._regex is not None
        hit = self._regex.match(actual) is not None
        return hit if self.op is MatchType.REGEX else not hit

    def __str__(self) -> str:
        name = self.name if _PLAIN_NAME.fullmatch(self.name) else _quote(self.name)
        return f"{name}{self.op.value}{_quote(self.value)}"


def matches_all(matchers: Iterable[Matcher], labels: LabelsLike) -> bool:
    """True when every matcher matches (an empty list matches everything)."""
    return all(m.matches(labels) for m in matchers)


def parse_matcher(text: str) -> Matcher:
    """Exactly one matcher; ValueError otherwise."""
    found = parse_matchers(text)
    if len(found) != 1:
        raise ValueError(f"expected exactly one matcher, got {len(found)} in {text!r}")
    return found[0]


def parse_matchers(text: Union[str, Sequence[str]]) -> list[Matcher]:
    """Parse a matcher string (or a list of them, as in a `matchers:` YAML list) into Matchers."""
    if not isinstance(text, str):
        out: list[Matcher] = []
        for item in text:
            if not isinstance(item, str):
                raise ValueError(f"matcher must be a string, got {type(item).__name__}")
            out.extend(parse_matchers(item))
        return out
    return _Parser(text).parse()


_PLAIN_NAME = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")
_OPERATORS = ("=~", "!~", "!=", "=")  # longest first
_NAME_STOP = set(' \t\r\n{}!=~,"\'')


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n") + '"'


class _Parser:
    def __init__(self, text: str) -> None:
        self.src = text
        self.text = text.strip()
        self.pos = 0

    def error(self, message: str) -> ValueError:
        return ValueError(f"invalid matcher {self.src!r}: {message}")

    def parse(self) -> list[Matcher]:
        if self.text.startswith("{"):
            if not self.text.endswith("}"):
                raise self.error("missing closing '}'")
            self.text = self.text[1:-1]
        elif self.text.endswith("}"):
            raise self.error("missing opening '{'")
        out: list[Matcher] = []
        while True:
            self.skip_space()
            if self.at_end():
                break
            out.append(self.parse_one())
            self.skip_space()
            if self.at_end():
                break
            if self.text[self.pos] != ",":
                raise self.error(f"expected ',' at position {self.pos + 1}, found {self.text[self.pos]!r}")
            self.pos += 1
        if not out and self.src.strip() not in ("{}",):
            raise self.error("no matcher found")
        return out

    def at_end(self) -> bool:
        return self.pos >= len(self.text)

    def skip_space(self) -> None:
        while not self.at_end() and self.text[self.pos].isspace():
            self.pos += 1

    def parse_one(self) -> Matcher:
        if self.text[self.pos] == '"':
            name = self.quoted()
        else:
            start = self.pos
            while not self.at_end() and self.text[self.pos] not in _NAME_STOP:
                self.pos += 1
            name = self.text[start:self.pos]
            if not name:
                raise self.error(f"expected a label name at position {start + 1}")
        self.skip_space()
        op = next((o for o in _OPERATORS if self.text.startswith(o, self.pos)), None)
        if op is None:
            raise self.error(f"expected one of =, !=, =~, !~ after label name {name!r}")
        self.pos += len(op)
        self.skip_space()
        if not self.at_end() and self.text[self.pos] == '"':
            value = self.quoted()
        else:
            start = self.pos
            while not self.at_end() and self.text[self.pos] != ",":
                if self.text[self.pos] == '"':
                    raise self.error("unquoted value contains a double quote")
                self.pos += 1
            value = self.text[start:self.pos].strip()
        return Matcher.create(name, op, value)

    def quoted(self) -> str:
        """Read a double-quoted string at pos (Alertmanager's unescaping rules)."""
        assert self.text[self.pos] == '"'
        self.pos += 1
        out: list[str] = []
        while not self.at_end():
            ch = self.text[self.pos]
            if ch == "\\" and self.pos + 1 < len(self.text):
                nxt = self.text[self.pos + 1]
                self.pos += 2
                if nxt == "n":
                    out.append("\n")
                elif nxt in ('"', "\\"):
                    out.append(nxt)
                else:  # a spurious escape keeps its backslash (regexes like \d)
                    out.append("\\" + nxt)
                continue
            self.pos += 1
            if ch == '"':
                return "".join(out)
            out.append(ch)
        raise self.error("unterminated quoted string")
