"""Series descriptions of promtool's unit tests (and the PromQL test scripts' `load`).

`series: 'up{job="api"}'` is a selector made of equality matchers only;
`values: "0+1x3 _ stale 5x2"` is the expanding notation:
- `a+bxN` / `a-bxN`: N+1 samples a, a±b, ..., a±N·b;
- `axN`: a repeated N+1 times;
- `_`: no sample at this step, `_xN`: N steps without samples;
- `stale`: a staleness marker; numbers may be `Inf`, `-Inf`, `NaN`, `1e3`, `0x1f`.
Native histogram samples (`{{...}}`) are not supported and raise
`UnsupportedSeries`, so a caller can name them.
"""

from __future__ import annotations

import math
import re

import promql_parser as pp

from watchdog.model import STALE_NAN, Labels
from watchdog.promql.ast import VectorSelector, compile_expr
from watchdog.tsdb.matchers import MatchOp


class SeriesDescError(ValueError):
    """The description cannot be parsed."""


class UnsupportedSeries(SeriesDescError):
    """The description uses a feature we do not implement (native histograms)."""


def parse_series_labels(text: str) -> Labels:
    """`name{a="b"}` or `{__name__="name", a="b"}` -> Labels (with `__name__`)."""
    try:
        node = compile_expr(pp.parse(text))
    except BaseException as e:  # the Rust parser raises ValueError, and may panic on odd input
        if isinstance(e, (KeyboardInterrupt, SystemExit, MemoryError)):
            raise
        raise SeriesDescError(f"invalid series {text!r}: {e}") from None
    if not isinstance(node, VectorSelector) or len(node.matcher_groups) != 1 or node.offset or node.at:
        raise SeriesDescError(f"invalid series {text!r}: expected a metric name and/or labels, as in up{{job=\"x\"}}")
    pairs: dict[str, str] = {}
    for m in node.matcher_groups[0]:
        if m.op is not MatchOp.EQ:
            raise SeriesDescError(f"invalid series {text!r}: only = matchers describe a series")
        pairs[m.name] = m.value
    return Labels.of(pairs)


_NUMBER = r"[+-]?(?:inf|nan|0x[0-9a-f]+|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)"
_STEP = r"(?:inf|nan|(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?)"
_INCREMENT = re.compile(rf"({_NUMBER})([+-])({_STEP})x(\d+)", re.I)
_REPEAT = re.compile(rf"({_NUMBER}|stale)x(\d+)", re.I)
_BLANKS = re.compile(r"_x(\d+)")
_MAX_SAMPLES = 10_000_000   # a typo like 1x99999999999 must not exhaust memory


def parse_number(text: str) -> float:
    low = text.lower()
    if low == "stale":
        return STALE_NAN
    if low.lstrip("+-") == "inf":
        return -math.inf if low.startswith("-") else math.inf
    if low.lstrip("+-") == "nan":
        return math.nan
    if re.fullmatch(r"[+-]?0x[0-9a-f]+", low):
        sign = -1 if low.startswith("-") else 1
        return float(sign * int(low.lstrip("+-"), 16))
    try:
        return float(text)
    except ValueError:
        raise SeriesDescError(f"invalid value {text!r}") from None


def parse_values(text: str) -> list[float | None]:
    """The samples, one per step; None where the step has no sample."""
    if "{{" in text:
        raise UnsupportedSeries("native histogram samples ({{...}}) are not supported")
    out: list[float | None] = []
    for item in text.split():
        if item == "_":
            out.append(None)
            continue
        if (m := _BLANKS.fullmatch(item)) is not None:
            _check_size(len(out), int(m.group(1)))
            out.extend([None] * int(m.group(1)))
        elif (m := _INCREMENT.fullmatch(item)) is not None:
            start, sign, step, times = parse_number(m.group(1)), m.group(2), parse_number(m.group(3)), int(m.group(4))
            _check_size(len(out), times + 1)
            inc = step if sign == "+" else -step
            # Prometheus adds the increment step by step (float rounding included)
            v = start
            for _ in range(times + 1):
                out.append(v)
                v += inc
        elif (m := _REPEAT.fullmatch(item)) is not None:
            times = int(m.group(2))
            _check_size(len(out), times + 1)
            out.extend([parse_number(m.group(1))] * (times + 1))
        else:
            out.append(parse_number(item))
    return out


def _check_size(have: int, more: int) -> None:
    if have + more > _MAX_SAMPLES:
        raise SeriesDescError(f"too many samples (more than {_MAX_SAMPLES}) in one series")
