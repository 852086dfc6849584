"""The PromQL evaluator over a SeriesStore (Prometheus 3 semantics).

Evaluation is per timestamp: `Evaluator.eval(node, t)` returns a float
(scalar), str (string), Vector or Matrix. Range queries and subqueries
evaluate their expression at each step.
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import promql_parser

from watchdog.model import STALE_NAN_BITS, Labels, Sample
from watchdog.promql import aggregate, binary, functions
from watchdog.promql.ast import (
    Aggregate, At, Binary, Call, Expr, MatrixSelector, NumberLiteral, StringLiteral, Subquery, Unary,
    VectorSelector, compile_expr,
)
from watchdog.promql.errors import PromQLError
from watchdog.promql.values import Matrix, Vector, drop_name, not_stale_mask
from watchdog.tsdb.store import SeriesStore

DEFAULT_SUBQUERY_STEP = 60.0
_PARSE_CACHE_SIZE = 4096
# Steps one query may evaluate in subqueries: `x[100d:1s]` would be 8.6M evaluations and stall
# the event loop (Prometheus bounds it by its query timeout; we never read the clock, so we count).
DEFAULT_MAX_SUBQUERY_STEPS = 100_000
# Go's time.Duration ends at ~292 years: Prometheus rejects longer ranges and offsets at parse time.
MAX_DURATION_SECONDS = (2**63 - 1) / 1e9


@dataclass(frozen=True)
class QueryResult:
    kind: str  # "vector" | "scalar" | "matrix" | "string"
    vector: list[Sample] = field(default_factory=list)
    scalar: float | None = None
    matrix: list[tuple[Labels, list[tuple[float, float]]]] = field(default_factory=list)
    string: str | None = None


class Evaluator:
    """State of one query: the store, lookback, visibility floor and @ start()/end()."""

    def __init__(self, engine: "Engine", start: float, end: float, not_before: float | None,
                 check_deadline: Callable[[], None] | None = None) -> None:
        self.store = engine.store
        # called between units of work; raises PromQLTimeout once the caller's deadline passed.
        # (The engine never reads a clock itself: the caller's check does.)
        self.check_deadline = check_deadline
        self.lookback = engine.lookback
        self.max_series = engine.max_series_per_query
        self.subquery_step = engine.subquery_step
        self.start = start
        self.end = end
        self.step = 0.0
        self.not_before = not_before
        self.series_touched = 0
        self.max_subquery_steps = engine.max_subquery_steps
        self.subquery_steps = 0

    # -- helpers -----------------------------------------------------------

    def at_time(self, at: At | None, offset: float, t: float) -> float:
        if at is None:
            base = t
        elif at.kind == "start":
            base = self.start
        elif at.kind == "end":
            base = self.end
        else:
            base = at.time
        return _ms(base - offset) if offset else base

    def _floor(self, lo: float) -> float:
        nb = self.not_before
        return lo if nb is None or nb <= lo else nb

    def _count(self, n: int) -> None:
        if self.check_deadline is not None:
            self.check_deadline()
        self.series_touched += n
        if self.series_touched > self.max_series:
            raise PromQLError(
                f"query touched more than {self.max_series} series (max_series_per_query); narrow the selectors"
            )

    def select_latest(self, node: VectorSelector, t: float) -> list[tuple[Labels, float, float]]:
        """(labels, sample time, value) per series visible to an instant selector at `t` (stale ones dropped)."""
        T = self.at_time(node.at, node.offset, t)
        lo = self._floor(_ms(T - self.lookback))
        groups = node.matcher_groups
        if len(groups) == 1:
            rows = self.store.latest(groups[0], lo, T)
        else:
            seen: dict[Labels, tuple[Labels, float, float]] = {}
            for g in groups:
                for row in self.store.latest(g, lo, T):
                    seen.setdefault(row[0], row)
            rows = list(seen.values())
        self._count(len(rows))
        out = []
        for row in rows:
            v = row[2]
            if v != v and np.float64(v).view(np.uint64) == STALE_NAN_BITS:
                continue
            out.append(row)
        return out

    def select_range(self, node: VectorSelector, rng: float, t: float) -> Matrix:
        T = self.at_time(node.at, node.offset, t)
        start = _ms(T - rng)
        groups = node.matcher_groups
        if len(groups) == 1:
            rows = self.store.select_flagged(groups[0], self._floor(start), T)
        else:
            seen: dict[Labels, tuple] = {}
            for g in groups:
                for row in self.store.select_flagged(g, self._floor(start), T):
                    seen.setdefault(row[0], row)
            rows = list(seen.values())
        self._count(len(rows))
        out = Matrix(range_start=start, range_end=T)
        append = out.append
        for labels, ts, vals, may_hold_stale in rows:
            if may_hold_stale:
                keep = not_stale_mask(vals)
                if not keep.all():
                    ts, vals = ts[keep], vals[keep]
                    if ts.shape[0] == 0:
                        continue
            append((labels, ts, vals))
        return out

    # -- evaluation --------------------------------------------------------

    def eval(self, node: Expr, t: float):
        kind = type(node)
        if kind is VectorSelector:
            return Vector((labels, v) for labels, _, v in self.select_latest(node, t))
        if kind is NumberLiteral:
            return node.value
        if kind is Binary:
            return binary.evaluate(self, node, t)
        if kind is Aggregate:
            return aggregate.evaluate(self, node, t)
        if kind is Call:
            return functions.evaluate(self, node, t)
        if kind is MatrixSelector:
            return self.select_range(node.selector, node.range, t)
        if kind is Subquery:
            return self.eval_subquery(node, t)
        if kind is Unary:
            v = self.eval(node.expr, t)
            if isinstance(v, float):
                return -v
            return Vector((drop_name(labels), -x) for labels, x in v)
        if kind is StringLiteral:
            return node.value
        raise PromQLError(f"unsupported: {kind.__name__}")

    def eval_scalar(self, node: Expr, t: float) -> float:
        v = self.eval(node, t)
        if isinstance(v, float):
            return v
        raise PromQLError(f"expected scalar, got {type(v).__name__.lower()}")

    def eval_vector(self, node: Expr, t: float) -> Vector:
        v = self.eval(node, t)
        if isinstance(v, Vector):
            return v
        raise PromQLError(f"expected instant vector, got {_kind(v)}")

    def eval_subquery(self, node: Subquery, t: float) -> Matrix:
        T = self.at_time(node.at, node.offset, t)
        step = node.step or self.subquery_step
        if step <= 0:
            raise PromQLError("subquery step must be positive")
        start = T - node.range
        # first step strictly after the window start, aligned to multiples of the step
        ms_step = round(step * 1000)
        ms_start = round(start * 1000)
        first = (ms_start // ms_step) * ms_step
        if first <= ms_start:
            first += ms_step
        series: dict[Labels, tuple[list[float], list[float]]] = {}
        ms_end = round(T * 1000)
        ms = first
        self.subquery_steps += max(0, (ms_end - first) // ms_step + 1)
        if self.subquery_steps > self.max_subquery_steps:
            raise PromQLError(
                f"subqueries of this query would evaluate more than {self.max_subquery_steps} steps "
                f"(max_subquery_steps); use a larger step or a shorter range"
            )
        while ms <= ms_end:
            ts = ms / 1000.0
            if self.check_deadline is not None:
                self.check_deadline()
            v = self.eval(node.expr, ts)
            if isinstance(v, float):
                rows = [(Labels(), v)]
            elif isinstance(v, Vector):
                rows = v
            else:
                raise PromQLError(f"subquery is only allowed on instant vector or scalar, got {_kind(v)}")
            for labels, x in rows:
                entry = series.get(labels)
                if entry is None:
                    entry = series[labels] = ([], [])
                entry[0].append(ts)
                entry[1].append(x)
            ms += ms_step
        out = Matrix(range_start=start, range_end=T)
        for labels, (tss, vals) in series.items():
            out.append((labels, np.array(tss, dtype=np.float64), np.array(vals, dtype=np.float64)))
        return out


def _check_duration(what: str, seconds: float) -> None:
    if seconds > MAX_DURATION_SECONDS:
        raise PromQLError(f"parse error: {what} {_dur(seconds)} is out of range (at most 292y)")


def _dur(seconds: float) -> str:
    from watchdog.durations import format_duration

    return format_duration(seconds)


def _ms(x: float) -> float:
    """Round to whole milliseconds (Prometheus's resolution) so window edges compare exactly with sample times."""
    return round(x * 1000.0) / 1000.0


def _kind(v) -> str:
    if isinstance(v, float):
        return "scalar"
    if isinstance(v, str):
        return "string"
    if isinstance(v, Matrix):
        return "range vector"
    return "instant vector"


class Engine:
    """Parses (with a cache) and evaluates PromQL over a SeriesStore."""

    def __init__(self, store: SeriesStore, lookback: float = 300.0, max_series_per_query: int = 100_000) -> None:
        self.store = store
        self.lookback = float(lookback)
        self.max_series_per_query = int(max_series_per_query)
        self.subquery_step = DEFAULT_SUBQUERY_STEP
        self.max_subquery_steps = DEFAULT_MAX_SUBQUERY_STEPS
        self.last_series_touched = 0   # series the last instant query selected (benchmarks, debugging)
        self._cache: OrderedDict[str, Expr] = OrderedDict()

    def parse(self, expr: str) -> Expr:
        """Parse and compile; raises PromQLError("parse error: ...")."""
        if isinstance(expr, Expr):
            return expr
        hit = self._cache.get(expr)
        if hit is not None:
            self._cache.move_to_end(expr)
            return hit
        try:
            raw = promql_parser.parse(expr)
        except ValueError as exc:
            raise PromQLError(f"parse error: {exc}") from None
        except BaseException as exc:  # the Rust parser may panic on odd input; never let that escape
            if isinstance(exc, (KeyboardInterrupt, SystemExit, MemoryError)):
                raise
            raise PromQLError(f"parse error: {exc}") from None
        node = compile_expr(raw)
        functions.check(node)
        self._check_limits(node)
        self._cache[expr] = node
        if len(self._cache) > _PARSE_CACHE_SIZE:
            self._cache.popitem(last=False)
        return node

    def _check_limits(self, node: Expr) -> None:
        """Parse-time bounds, so a rule file that would stall evaluation fails `watchdog check` at its line."""
        stack = [node]
        while stack:
            n = stack.pop()
            if isinstance(n, MatrixSelector):
                _check_duration("range", n.range)
                stack.append(n.selector)
            elif isinstance(n, VectorSelector):
                _check_duration("offset", abs(n.offset))
            elif isinstance(n, Subquery):
                _check_duration("subquery range", n.range)
                _check_duration("offset", abs(n.offset))
                if n.step and n.range / n.step > self.max_subquery_steps:
                    raise PromQLError(
                        f"subquery [{_dur(n.range)}:{_dur(n.step)}] would evaluate {int(n.range / n.step)} steps, "
                        f"more than {self.max_subquery_steps}; use a larger step or a shorter range"
                    )
                stack.append(n.expr)
            elif isinstance(n, Binary):
                stack.extend((n.lhs, n.rhs))
            elif isinstance(n, Aggregate):
                stack.append(n.expr)
                if n.param is not None:
                    stack.append(n.param)
            elif isinstance(n, Call):
                stack.extend(n.args)
            elif isinstance(n, Unary):
                stack.append(n.expr)

    def _instant(self, expr: str | Expr, t: float, not_before: float | None,
                 check_deadline: Callable[[], None] | None = None):
        node = self.parse(expr)
        ev = Evaluator(self, t, t, not_before, check_deadline)
        try:
            with np.errstate(all="ignore"):  # IEEE results (NaN, ±Inf) are PromQL's semantics, not warnings
                return node, ev.eval(node, t)
        finally:
            self.last_series_touched = ev.series_touched

    def query(self, expr: str | Expr, t: float, *, not_before: float | None = None,
              check_deadline: Callable[[], None] | None = None) -> QueryResult:
        t = float(t)
        _, v = self._instant(expr, t, not_before, check_deadline)
        if isinstance(v, float):
            return QueryResult("scalar", scalar=v)
        if isinstance(v, str):
            return QueryResult("string", string=v)
        if isinstance(v, Matrix):
            return QueryResult(
                "matrix", matrix=[(labels, list(zip(ts.tolist(), vals.tolist()))) for labels, ts, vals in v]
            )
        functions.check_unique(v)
        return QueryResult("vector", vector=[Sample(labels, x, t) for labels, x in v])

    def vector(self, expr: str | Expr, t: float, *, not_before: float | None = None) -> list[Sample]:
        """Instant query that must give a vector (a scalar becomes one sample without labels)."""
        t = float(t)
        _, v = self._instant(expr, t, not_before)
        if isinstance(v, float):
            return [Sample(Labels(), v, t)]
        if not isinstance(v, Vector):
            raise PromQLError(f"expression must evaluate to an instant vector or scalar, got {_kind(v)}")
        functions.check_unique(v)
        return [Sample(labels, x, t) for labels, x in v]

    def query_range(
        self, expr: str | Expr, start: float, end: float, step: float,
        check_deadline: Callable[[], None] | None = None,
    ) -> list[tuple[Labels, list[tuple[float, float]]]]:
        node = self.parse(expr)
        if node.type not in ("vector", "scalar"):
            raise PromQLError(f"invalid expression type {node.type!r} for range query, must be scalar or instant vector")
        if step <= 0:
            raise PromQLError("zero or negative query resolution step widths are not accepted")
        if end < start:
            raise PromQLError("end timestamp must not be before start time")
        ev = Evaluator(self, float(start), float(end), None, check_deadline)
        ev.step = float(step)
        series: dict[Labels, list[tuple[float, float]]] = {}
        ms_step = round(step * 1000)
        ms = round(start * 1000)
        ms_end = round(end * 1000)
        while ms <= ms_end:
            t = ms / 1000.0
            ev.series_touched = 0  # the per-query series and subquery-step caps apply per step
            ev.subquery_steps = 0
            if check_deadline is not None:
                check_deadline()
            with np.errstate(all="ignore"):
                v = ev.eval(node, t)
            if isinstance(v, float):
                series.setdefault(Labels(), []).append((t, v))
            else:
                functions.check_unique(v)
                for labels, x in v:
                    series.setdefault(labels, []).append((t, x))
            ms += ms_step
        return sorted(series.items(), key=lambda kv: kv[0])
