"""Our own AST, compiled once from promql-parser's tree.

promql-parser's nodes are Rust objects whose attribute getters build new Python
objects on every access; converting once to slotted dataclasses makes repeated
evaluation (rules every 10 s) cheap and lets nodes carry precomputed matchers.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import promql_parser as pp

from watchdog.model import METRIC_NAME
from watchdog.promql.errors import PromQLError
from watchdog.tsdb.matchers import Matcher, MatchOp


class Expr:
    """Base of every compiled node; `type` is "scalar", "vector", "matrix" or "string"."""

    __slots__ = ()
    type = "vector"


@dataclass(frozen=True, slots=True)
class NumberLiteral(Expr):
    value: float
    type = "scalar"


@dataclass(frozen=True, slots=True)
class StringLiteral(Expr):
    value: str
    type = "string"


@dataclass(frozen=True, slots=True)
class At:
    """`@ <time>`, `@ start()` or `@ end()`; kind is "at", "start" or "end"."""

    kind: str
    time: float = 0.0


@dataclass(frozen=True, slots=True)
class VectorSelector(Expr):
    name: str | None
    # OR-ed groups of AND-ed matchers (a single group unless `{a="x" or b="y"}`)
    matcher_groups: tuple[tuple[Matcher, ...], ...]
    offset: float = 0.0
    at: At | None = None
    text: str = ""


@dataclass(frozen=True, slots=True)
class MatrixSelector(Expr):
    selector: VectorSelector
    range: float
    type = "matrix"


@dataclass(frozen=True, slots=True)
class Subquery(Expr):
    expr: Expr
    range: float
    step: float | None
    offset: float = 0.0
    at: At | None = None
    type = "matrix"


@dataclass(frozen=True, slots=True)
class Unary(Expr):
    expr: Expr

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.expr.type


@dataclass(frozen=True, slots=True)
class Binary(Expr):
    op: str
    lhs: Expr
    rhs: Expr
    return_bool: bool = False
    card: str = "one-to-one"  # one-to-one | many-to-one | one-to-many | many-to-many
    on: bool = False
    matching: tuple[str, ...] = ()
    include: tuple[str, ...] = ()

    @property
    def type(self) -> str:  # type: ignore[override]
        if self.lhs.type == "scalar" and self.rhs.type == "scalar":
            return "scalar"
        return "vector"


@dataclass(frozen=True, slots=True)
class Aggregate(Expr):
    op: str
    expr: Expr
    param: Expr | None
    grouping: tuple[str, ...] = ()
    without: bool = False


@dataclass(frozen=True, slots=True)
class Call(Expr):
    name: str
    args: tuple[Expr, ...]
    return_type: str = "vector"

    @property
    def type(self) -> str:  # type: ignore[override]
        return self.return_type


# promql-parser's enums are unhashable; key by their str() ("MatchOp.Equal")
_MATCH_OPS = {
    "MatchOp.Equal": MatchOp.EQ,
    "MatchOp.NotEqual": MatchOp.NE,
    "MatchOp.Re": MatchOp.RE,
    "MatchOp.NotRe": MatchOp.NRE,
}
_CARD = {
    "VectorMatchCardinality.OneToOne": "one-to-one",
    "VectorMatchCardinality.ManyToOne": "many-to-one",
    "VectorMatchCardinality.OneToMany": "one-to-many",
    "VectorMatchCardinality.ManyToMany": "many-to-many",
}
_VALUE_TYPES = {
    "ValueType.Vector": "vector",
    "ValueType.Scalar": "scalar",
    "ValueType.Matrix": "matrix",
    "ValueType.String": "string",
}


def _seconds(d: timedelta | None) -> float:
    return 0.0 if d is None else d.total_seconds()


def _at(node: Any) -> At | None:
    try:
        at = node.at
        if at is None:
            return None
        if at.type == pp.AtModifierType.Start:
            return At("start")
        if at.type == pp.AtModifierType.End:
            return At("end")
        return At("at", at.at.timestamp())
    except BaseException as exc:  # pyo3 panics (a BaseException) on @ before 1970
        if isinstance(exc, (KeyboardInterrupt, SystemExit)):
            raise
        raise PromQLError("unsupported: @ modifier with a timestamp before 1970") from None


def _matcher(m: Any) -> Matcher:
    try:
        return Matcher(m.name, _MATCH_OPS[str(m.op)], m.value)
    except ValueError as exc:
        raise PromQLError(f"parse error: {exc}") from None


def _vector_selector(node: Any) -> VectorSelector:
    name = node.name
    ms = node.matchers
    base = [_matcher(m) for m in ms.matchers]
    groups: list[tuple[Matcher, ...]] = []
    name_matcher = [Matcher(METRIC_NAME, MatchOp.EQ, name)] if name else []
    ors = ms.or_matchers
    if ors:
        for group in ors:
            groups.append(tuple(name_matcher + base + [_matcher(m) for m in group]))
    else:
        groups.append(tuple(name_matcher + base))
    return VectorSelector(name, tuple(groups), _seconds(node.offset), _at(node), str(node))


def compile_expr(node: Any) -> Expr:
    """Convert a promql-parser node (and its children) into our AST."""
    if isinstance(node, pp.ParenExpr):
        return compile_expr(node.expr)
    if isinstance(node, pp.NumberLiteral):
        return NumberLiteral(float(node.val))
    if isinstance(node, pp.StringLiteral):
        return StringLiteral(node.val)
    if isinstance(node, pp.VectorSelector):
        return _vector_selector(node)
    if isinstance(node, pp.MatrixSelector):
        return MatrixSelector(_vector_selector(node.vector_selector), _seconds(node.range))
    if isinstance(node, pp.SubqueryExpr):
        step = node.step
        return Subquery(
            compile_expr(node.expr), _seconds(node.range), None if step is None else _seconds(step),
            _seconds(node.offset), _at(node),
        )
    if isinstance(node, pp.UnaryExpr):
        inner = compile_expr(node.expr)
        if isinstance(inner, NumberLiteral):
            return NumberLiteral(-inner.value)
        return Unary(inner)
    if isinstance(node, pp.BinaryExpr):
        return _binary(node)
    if isinstance(node, pp.AggregateExpr):
        mod = node.modifier
        param = node.param
        return Aggregate(
            str(node.op).lower(),
            compile_expr(node.expr),
            None if param is None else compile_expr(param),
            tuple(mod.labels) if mod else (),
            bool(mod and mod.type == pp.AggModifierType.Without),
        )
    if isinstance(node, pp.Call):
        func = node.func
        return Call(func.name, tuple(compile_expr(a) for a in node.args), _VALUE_TYPES.get(str(func.return_type), "vector"))
    raise PromQLError(f"unsupported: expression node {type(node).__name__}")


def _binary(node: Any) -> Binary:
    op = str(node.op).lower()
    lhs = compile_expr(node.lhs)
    rhs = compile_expr(node.rhs)
    mod = node.modifier
    if mod is None:
        card = "many-to-many" if op in ("and", "or", "unless") else "one-to-one"
        return Binary(op, lhs, rhs, card=card)
    fill = mod.fill_values
    if fill is not None and (fill.lhs is not None or fill.rhs is not None):
        raise PromQLError("unsupported: fill modifiers (experimental)")
    matching = mod.matching
    return Binary(
        op, lhs, rhs,
        return_bool=bool(mod.return_bool),
        card=_CARD[str(mod.card)],
        on=bool(matching is not None and matching.type == pp.LabelModifierType.Include),
        matching=tuple(matching.labels) if matching is not None else (),
        include=tuple(mod.group_labels or ()),
    )
