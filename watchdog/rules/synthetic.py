"""Synthetic series for rule corpora: data every selector of a set of expressions selects.

Used by the corpus tests and `benchmarks/rules.py`: for each vector selector
of each expression it makes series whose labels satisfy the selector's
matchers (a string matching each regex is derived from the regex itself),
carrying every label the expression groups or matches on, with plausible
values: counters (`*_total`, `*_count`, `*_sum`, `*_bucket`, or anything under
`rate`/`increase`/...) only increase, classic histograms get cumulative `le`
buckets, gauges wander around a level. Deterministic for a given seed.
"""

from __future__ import annotations

import random
import re
import re._constants as sc   # the regex parser's tables (public sre_* modules are deprecated)
import re._parser as sre_parse
from dataclasses import dataclass, field
from typing import Iterable, Iterator

from watchdog.model import Labels
from watchdog.promql.ast import Aggregate, Binary, Call, Expr, MatrixSelector, Subquery, Unary, VectorSelector
from watchdog.tsdb.matchers import Matcher, MatchOp

COUNTER_FUNCTIONS = {"rate", "irate", "increase", "resets"}
COUNTER_SUFFIXES = ("_total", "_count", "_sum", "_bucket")
BUCKETS = ("0.005", "0.05", "0.1", "0.5", "1", "5", "10", "+Inf")
LABEL_FUNCTIONS = {"label_replace", "label_join"}


@dataclass
class SeriesSpec:
    labels: Labels
    counter: bool
    level: float                 # gauge level, or counter rate per second
    bucket_share: float = 1.0    # for `le` buckets: the cumulative share of observations


@dataclass
class SyntheticData:
    series: dict[Labels, SeriesSpec] = field(default_factory=dict)

    def samples(self, t: float, step_index: int, rng: random.Random) -> Iterator[tuple[Labels, float]]:
        """Every series' value at step `step_index` (time `t`)."""
        for labels, spec in self.series.items():
            if spec.counter:
                yield labels, round(spec.level * spec.bucket_share * t, 6)
            else:
                yield labels, spec.level * (1.0 + 0.05 * rng.uniform(-1.0, 1.0))


def walk(node: Expr, counter: bool = False) -> Iterator[tuple[VectorSelector, bool]]:
    """(selector, selected under a counter function) for every selector in the tree."""
    if isinstance(node, VectorSelector):
        yield node, counter
    elif isinstance(node, MatrixSelector):
        yield node.selector, counter
    elif isinstance(node, Subquery | Unary):
        yield from walk(node.expr, counter)
    elif isinstance(node, Binary):
        yield from walk(node.lhs, counter)
        yield from walk(node.rhs, counter)
    elif isinstance(node, Aggregate):
        yield from walk(node.expr, counter)
        if node.param is not None:
            yield from walk(node.param, counter)
    elif isinstance(node, Call):
        for arg in node.args:
            yield from walk(arg, counter or node.name in COUNTER_FUNCTIONS)


def referenced_labels(node: Expr) -> set[str]:
    """Label names an expression groups by, matches on, or reads in label_replace/label_join."""
    out: set[str] = set()
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Aggregate):
            if not n.without:
                out.update(n.grouping)
            stack.append(n.expr)
            if n.param is not None:
                stack.append(n.param)
        elif isinstance(n, Binary):
            if n.on:
                out.update(n.matching)
            out.update(n.include)
            stack += [n.lhs, n.rhs]
        elif isinstance(n, Call):
            stack.extend(n.args)
            if n.name in LABEL_FUNCTIONS:
                out.update(getattr(a, "value", "") for a in n.args[2:] if getattr(a, "value", None))
        elif isinstance(n, (Subquery, Unary)):
            stack.append(n.expr)
        elif isinstance(n, MatrixSelector):
            stack.append(n.selector)
    return {name for name in out if re.fullmatch(r"[a-zA-Z_][a-zA-Z0-9_]*", name) and name not in ("__name__", "le")}


def matching_value(matcher: Matcher) -> str | None:
    """A label value the matcher accepts (None: the label must be absent)."""
    if matcher.op is MatchOp.EQ:
        return matcher.value or None
    if matcher.op is MatchOp.NE:
        candidate = "synthetic" if matcher.value != "synthetic" else "other"
        return candidate
    if matcher.op is MatchOp.NRE:
        for candidate in ("synthetic", "zz-other-9"):
            if matcher.matches(candidate):
                return candidate
        return None
    for candidate in _regex_examples(matcher.value):
        if matcher.matches(candidate):
            return candidate or None
    return "synthetic" if matcher.matches("synthetic") else None


def _regex_examples(pattern: str) -> Iterable[str]:
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError):
        return []
    return [_example(parsed, branch=b) for b in range(3)]


def _example(items, branch: int = 0) -> str:
    out = []
    for op, arg in items:
        if op is sc.LITERAL:
            out.append(chr(arg))
        elif op is sc.NOT_LITERAL:
            out.append("a" if chr(arg) != "a" else "b")
        elif op is sc.ANY:
            out.append("x")
        elif op is sc.IN:
            out.append(_in_example(arg))
        elif op in (sc.MAX_REPEAT, sc.MIN_REPEAT, getattr(sc, "POSSESSIVE_REPEAT", None)):
            lo, _hi, sub = arg
            out.append(_example(sub, branch) * max(lo, 1 if lo == 0 and branch == 1 else lo))
        elif op is sc.SUBPATTERN:
            out.append(_example(arg[-1], branch))
        elif op is sc.BRANCH:
            alternatives = arg[1]
            out.append(_example(alternatives[min(branch, len(alternatives) - 1)], branch))
    return "".join(out)


def _in_example(items) -> str:
    for op, arg in items:
        if op is sc.LITERAL:
            return chr(arg)
        if op is sc.RANGE:
            return chr(arg[0])
        if op is sc.CATEGORY:
            return {"CATEGORY_DIGIT": "0", "CATEGORY_SPACE": " "}.get(str(arg), "a")
        if op is sc.NEGATE:
            return "a"
    return "a"


def build(exprs: Iterable[Expr], *, seed: int = 1, common: dict[str, str] | None = None) -> SyntheticData:
    """Series for every selector of every expression."""
    rng = random.Random(seed)
    data = SyntheticData()
    base = {"job": "synthetic", "instance": "synthetic:9100", **(common or {})}
    for expr in exprs:
        extra = {name: "synthetic" for name in referenced_labels(expr)}
        for selector, under_counter in walk(expr):
            labels: dict[str, str] = {**base, **extra}
            absent: set[str] = set()
            for m in selector.matcher_groups[0] if selector.matcher_groups else ():
                value = matching_value(m)
                if value is None:
                    absent.add(m.name)
                else:
                    labels[m.name] = value
            name = labels.get("__name__") or selector.name
            if not name:
                continue
            labels["__name__"] = name
            for gone in absent:
                labels.pop(gone, None)
            counter = under_counter or name.endswith(COUNTER_SUFFIXES)
            level = rng.uniform(0.5, 50.0)
            if name.endswith("_bucket") and "le" not in labels:
                for i, le in enumerate(BUCKETS):
                    key = Labels.of({**labels, "le": le})
                    data.series.setdefault(key, SeriesSpec(key, True, level, (i + 1) / len(BUCKETS)))
                continue
            key = Labels.of(labels)
            data.series.setdefault(key, SeriesSpec(key, counter, level))
    return data
