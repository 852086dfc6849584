"""Parser for the Prometheus text exposition format (0.0.4) and OpenMetrics text.

We do not use prometheus_client's parser: it builds Metric/Sample objects per
line and unescapes character by character, which costs several times more CPU
than this regex-per-line parser on a typical 1,000-series target. The label
part of a line is kept as a raw string (`series key`) so that the scrape probe
can map it to a cached `Labels` and parse labels only for new series.

Timestamps are validated and ignored (samples get the scrape time), as are
HELP/TYPE/UNIT comments and OpenMetrics exemplars.
"""

from __future__ import annotations

import re

_SAMPLE_RE = re.compile(
    r'([a-zA-Z_:][a-zA-Z0-9_:]*(?:\{(?:[^"}]|"(?:[^"\\\n]|\\.)*")*\})?)'  # series key: name{labels}
    r"[ \t]+(\S+)"  # value
    r"(?:[ \t]+(-?[0-9][0-9.eE+-]*))?"  # timestamp (ignored)
    r"(?:[ \t]+#[ \t].*)?[ \t]*"  # exemplar (ignored)
)
_LABEL_RE = re.compile(r'[ \t]*([a-zA-Z_][a-zA-Z0-9_]*)[ \t]*=[ \t]*"((?:[^"\\\n]|\\.)*)"[ \t]*(,|$)')
_ESCAPE_RE = re.compile(r"\\(.)")
_ESCAPES = {"n": "\n", "\\": "\\", '"': '"'}


class ExpositionError(ValueError):
    """A malformed exposition; the message names the line."""


def _unescape(value: str) -> str:
    if "\\" not in value:
        return value
    return _ESCAPE_RE.sub(lambda m: _ESCAPES.get(m.group(1), "\\" + m.group(1)), value)


def _snippet(line: str) -> str:
    return repr(line[:80] + ("..." if len(line) > 80 else ""))


def parse_value(token: str) -> float:
    """Go's ParseFloat as Prometheus uses it: numbers, NaN, +Inf, -Inf (no underscores)."""
    if "_" in token:
        raise ValueError(token)
    return float(token)


def parse_exposition(text: str) -> list[tuple[str, float]]:
    """(series key, value) for every sample line; raises ExpositionError."""
    out: list[tuple[str, float]] = []
    append = out.append
    match = _SAMPLE_RE.fullmatch
    eof = False
    for lineno, line in enumerate(text.split("\n"), 1):
        if line.endswith("\r"):
            line = line[:-1]
        if not line:
            continue
        if eof:
            raise ExpositionError(f"line {lineno}: content after # EOF")
        if line[0] == "#":
            if line.rstrip() == "# EOF":
                eof = True
            continue
        m = match(line)
        if m is None:
            if line.strip() == "":
                continue
            raise ExpositionError(f"line {lineno}: invalid sample line {_snippet(line)}")
        try:
            value = parse_value(m.group(2))
        except ValueError:
            raise ExpositionError(f"line {lineno}: invalid value {_snippet(m.group(2))}") from None
        if m.group(3) is not None:
            try:
                float(m.group(3))
            except ValueError:
                raise ExpositionError(f"line {lineno}: invalid timestamp {_snippet(m.group(3))}") from None
        append((m.group(1), value))
    return out


def parse_series_key(key: str) -> tuple[str, list[tuple[str, str]]]:
    """`name{a="1",b="x\\"y"}` -> ("name", [("a", "1"), ("b", 'x"y')]); raises ValueError."""
    brace = key.find("{")
    if brace < 0:
        return key, []
    name, body = key[:brace], key[brace + 1 : -1]
    pairs: list[tuple[str, str]] = []
    seen: set[str] = set()
    pos = 0
    while pos < len(body):
        m = _LABEL_RE.match(body, pos)
        if m is None:
            if body[pos:].strip() == "":
                break
            raise ValueError(f"invalid labels in {_snippet(key)}")
        label, value = m.group(1), _unescape(m.group(2))
        if label in seen:
            raise ValueError(f"duplicate label {label!r} in {_snippet(key)}")
        seen.add(label)
        pairs.append((label, value))
        pos = m.end()
        if m.group(3) == "" and pos < len(body):
            raise ValueError(f"invalid labels in {_snippet(key)}")
    return name, pairs
