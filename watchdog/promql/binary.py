"""Binary operators: arithmetic, comparison, set operators, vector matching."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from watchdog.model import METRIC_NAME, Labels
from watchdog.promql.ast import Binary
from watchdog.promql.errors import PromQLError
from watchdog.promql.values import Vector, drop_name, labels_from_sorted

if TYPE_CHECKING:
    from watchdog.promql.engine import Evaluator

COMPARISONS = {"==", "!=", ">", "<", ">=", "<="}
SET_OPS = {"and", "or", "unless"}


def _arith(op: str, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        if op == "+":
            return a + b
        if op == "-":
            return a - b
        if op == "*":
            return a * b
        if op == "/":
            return a / b
        if op == "%":
            return np.fmod(a, b)
        if op == "^":
            return np.power(a, b)
        if op == "atan2":
            return np.arctan2(a, b)
        if op == "==":
            return a == b
        if op == "!=":
            return a != b
        if op == ">":
            return a > b
        if op == "<":
            return a < b
        if op == ">=":
            return a >= b
        if op == "<=":
            return a <= b
    raise PromQLError(f"unsupported: binary operator {op}")


def scalar_op(op: str, a: float, b: float) -> float:
    r = _arith(op, np.float64(a), np.float64(b))
    return float(r)


def evaluate(ev: "Evaluator", node: Binary, t: float):
    op = node.op
    lhs = ev.eval(node.lhs, t)
    rhs = ev.eval(node.rhs, t)
    if op in SET_OPS:
        if not isinstance(lhs, Vector) or not isinstance(rhs, Vector):
            raise PromQLError(f"set operator {op!r} not allowed in binary scalar expression")
        return _set_op(node, lhs, rhs)
    lhs_scalar = isinstance(lhs, float)
    rhs_scalar = isinstance(rhs, float)
    if lhs_scalar and rhs_scalar:
        r = scalar_op(op, lhs, rhs)
        if op in COMPARISONS:
            if not node.return_bool:
                raise PromQLError("comparisons between scalars must use BOOL modifier")
            return 1.0 if r else 0.0
        return r
    if lhs_scalar or rhs_scalar:
        return _vector_scalar(node, rhs if lhs_scalar else lhs, lhs if lhs_scalar else rhs, swapped=lhs_scalar)
    if not isinstance(lhs, Vector) or not isinstance(rhs, Vector):
        raise PromQLError("binary expression must contain only scalar and instant vector types")
    return _vector_vector(node, lhs, rhs)


def _vector_scalar(node: Binary, vec: Vector, s: float, swapped: bool) -> Vector:
    op = node.op
    if not vec:
        return Vector()
    vals = np.fromiter((x for _, x in vec), dtype=np.float64, count=len(vec))
    sv = np.float64(s)
    res = _arith(op, sv, vals) if swapped else _arith(op, vals, sv)
    out = Vector()
    if op in COMPARISONS:
        if node.return_bool:
            for (labels, _), keep in zip(vec, res.tolist()):
                out.append((drop_name(labels), 1.0 if keep else 0.0))
        else:
            for (labels, x), keep in zip(vec, res.tolist()):
                if keep:
                    out.append((labels, x))
        return out
    for (labels, _), r in zip(vec, res.tolist()):
        out.append((drop_name(labels), r))
    return out


def signature_fn(on: bool, names: tuple[str, ...]):
    """Function from Labels to the matching key (on: only `names`; ignoring: all but `names` and __name__)."""
    if on:
        wanted = frozenset(names)

        # Labels never hold empty values, so the present (name, value) pairs identify the group
        def sig_on(labels: Labels):
            return tuple(p for p in labels if p[0] in wanted)

        return sig_on
    drop = set(names) | {METRIC_NAME}

    def sig_ignoring(labels: Labels):
        return tuple(p for p in labels if p[0] not in drop)

    return sig_ignoring


def _set_op(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    sig = signature_fn(node.on, node.matching)
    op = node.op
    if op == "and":
        if not lhs or not rhs:
            return Vector()
        right = {sig(labels) for labels, _ in rhs}
        return Vector(s for s in lhs if sig(s[0]) in right)
    if op == "or":
        if not lhs:
            return Vector(rhs)
        if not rhs:
            return Vector(lhs)
        left = {sig(labels) for labels, _ in lhs}
        out = Vector(lhs)
        out.extend(s for s in rhs if sig(s[0]) not in left)
        return out
    if not rhs:
        return Vector(lhs)
    right = {sig(labels) for labels, _ in rhs}
    return Vector(s for s in lhs if sig(s[0]) not in right)


def _result_labels(node: Binary, many: Labels, one: Labels, drop_metric: bool) -> Labels:
    if not node.include:
        # fast paths without a dict or re-sort: filtering keeps the sorted order
        if node.card == "one-to-one":
            if node.on:
                keep = frozenset(node.matching)
                return labels_from_sorted(p for p in many if p[0] in keep)
            drop = set(node.matching)
            if drop_metric:
                drop.add(METRIC_NAME)
            return labels_from_sorted(p for p in many if p[0] not in drop)
        return drop_name(many) if drop_metric else many
    d = dict(many)
    if drop_metric:
        d.pop(METRIC_NAME, None)
    if node.card == "one-to-one":
        if node.on:
            keep = set(node.matching)
            d = {k: v for k, v in d.items() if k in keep}
        else:
            for n in node.matching:
                d.pop(n, None)
    if node.include:
        od = dict(one)
        for n in node.include:
            v = od.get(n, "")
            if v:
                d[n] = v
            else:
                d.pop(n, None)
    return labels_from_sorted(sorted(d.items()))


def _vector_vector(node: Binary, lhs: Vector, rhs: Vector) -> Vector:
    op = node.op
    if not lhs or not rhs:
        return Vector()
    sig = signature_fn(node.on, node.matching)
    one_to_many = node.card == "one-to-many"
    many, one = (rhs, lhs) if one_to_many else (lhs, rhs)
    one_side = "left" if one_to_many else "right"
    ones: dict = {}
    for labels, x in one:
        k = sig(labels)
        prev = ones.get(k)
        if prev is not None:
            raise PromQLError(
                f"found duplicate series for the match group {_fmt_sig(node, labels)} on the {one_side} hand-side "
                f"of the operation: [{prev[0]!r}, {labels!r}];many-to-many matching not allowed: "
                "matching labels must be unique on one side"
            )
        ones[k] = (labels, x)
    pairs = []
    keys = []
    for labels, x in many:
        k = sig(labels)
        o = ones.get(k)
        if o is not None:
            pairs.append((labels, x, o[0], o[1]))
            keys.append(k)
    if not pairs:
        return Vector()
    mv = np.fromiter((p[1] for p in pairs), dtype=np.float64, count=len(pairs))
    ov = np.fromiter((p[3] for p in pairs), dtype=np.float64, count=len(pairs))
    # the operator is applied as written (lhs op rhs) whichever side is "many"
    lv, rv = (ov, mv) if one_to_many else (mv, ov)
    res = _arith(op, lv, rv).tolist()
    lvals = lv.tolist()
    is_cmp = op in COMPARISONS
    drop_metric = (not is_cmp) or node.return_bool
    out = Vector()
    matched: dict = {}
    one_to_one = node.card == "one-to-one"
    if one_to_one and len(set(keys)) != len(keys):
        # checked before comparison filtering, as Prometheus does
        raise PromQLError("multiple matches for labels: many-to-one matching must be explicit (group_left/group_right)")
    for (mlabels, _, olabels, _), k, r, lval in zip(pairs, keys, res, lvals):
        if is_cmp:
            if node.return_bool:
                value = 1.0 if r else 0.0
            elif not r:
                continue
            else:
                value = lval
        else:
            value = r
        metric = _result_labels(node, mlabels, olabels, drop_metric)
        if not one_to_one:
            seen = matched.setdefault(k, set())  # noqa: E501
            if metric in seen:
                raise PromQLError("multiple matches for labels: grouping labels must ensure unique matches")
            seen.add(metric)
        out.append((metric, value))
    return out


def _fmt_sig(node: Binary, labels: Labels) -> str:
    if node.on:
        keep = set(node.matching)
        pairs = [(k, v) for k, v in labels if k in keep]
    else:
        drop = set(node.matching) | {METRIC_NAME}
        pairs = [(k, v) for k, v in labels if k not in drop]
    return "{" + ", ".join(f'{k}="{v}"' for k, v in pairs) + "}"
