"""PromQL function calls: dispatch, instant-vector math, labels, time, and range-vector functions."""

from __future__ import annotations

import calendar
import math
import re
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Callable

import numpy as np

from watchdog.model import METRIC_NAME, Labels
from watchdog.promql import batch
from watchdog.promql import range_functions as rf
from watchdog.promql.aggregate import quantile
from watchdog.promql.ast import Aggregate, Binary, Call, Expr, MatrixSelector, Subquery, Unary, VectorSelector
from watchdog.promql.errors import PromQLError
from watchdog.promql.histogram import histogram_fraction, histogram_quantile
from watchdog.promql.values import Matrix, Vector, drop_name, format_float
from watchdog.tsdb.matchers import MatchOp, compile_anchored

if TYPE_CHECKING:
    from watchdog.promql.engine import Evaluator

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")

NATIVE_HISTOGRAM_FUNCTIONS = {
    "histogram_count", "histogram_sum", "histogram_avg",
    "histogram_stddev", "histogram_stdvar",
}
UNSUPPORTED = {"info": "info() (experimental)", "limitk": "limitk", "limit_ratio": "limit_ratio"}


def _math(fn: Callable[[np.ndarray], np.ndarray]):
    def apply(vals: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            return fn(vals)

    return apply


def _round_half_up(vals: np.ndarray, to_nearest: float) -> np.ndarray:
    inv = 1.0 / to_nearest
    return np.floor(vals * inv + 0.5) / inv


MATH = {
    "abs": _math(np.abs), "ceil": _math(np.ceil), "floor": _math(np.floor), "exp": _math(np.exp),
    "ln": _math(np.log), "log2": _math(np.log2), "log10": _math(np.log10), "sqrt": _math(np.sqrt),
    "sgn": _math(np.sign),
    "acos": _math(np.arccos), "acosh": _math(np.arccosh), "asin": _math(np.arcsin), "asinh": _math(np.arcsinh),
    "atan": _math(np.arctan), "atanh": _math(np.arctanh), "cos": _math(np.cos), "cosh": _math(np.cosh),
    "sin": _math(np.sin), "sinh": _math(np.sinh), "tan": _math(np.tan), "tanh": _math(np.tanh),
    "deg": _math(np.degrees), "rad": _math(np.radians),
}


def check(node: Expr) -> None:
    """Reject, at parse time, what we know we cannot evaluate (clear 'unsupported: ...' errors)."""
    stack = [node]
    while stack:
        n = stack.pop()
        if isinstance(n, Call):
            if n.name in NATIVE_HISTOGRAM_FUNCTIONS:
                raise PromQLError(f"unsupported: native histograms ({n.name})")
            if n.name in UNSUPPORTED:
                raise PromQLError(f"unsupported: {UNSUPPORTED[n.name]}")
            if n.name not in _DISPATCH:
                raise PromQLError(f"unsupported: function {n.name}()")
            stack.extend(n.args)
        elif isinstance(n, Binary):
            stack.extend((n.lhs, n.rhs))
        elif isinstance(n, Aggregate):
            if n.op in ("limitk", "limit_ratio"):
                raise PromQLError(f"unsupported: {n.op} (experimental)")
            stack.append(n.expr)
            if n.param is not None:
                stack.append(n.param)
        elif isinstance(n, (Unary, Subquery)):
            stack.append(n.expr)


def check_unique(vec: Vector) -> None:
    if len(vec) > 1 and len({labels for labels, _ in vec}) != len(vec):
        raise PromQLError("vector cannot contain metrics with the same labelset")


def evaluate(ev: "Evaluator", node: Call, t: float):
    impl = _DISPATCH.get(node.name)
    if impl is None:
        raise PromQLError(f"unsupported: function {node.name}()")
    return impl(ev, node, t)


# -- helpers -----------------------------------------------------------------


def _map_values(vec: Vector, fn, keep_name: bool = False) -> Vector:
    if not vec:
        return Vector()
    vals = np.fromiter((x for _, x in vec), dtype=np.float64, count=len(vec))
    res = fn(vals).tolist()
    if keep_name:
        return Vector((labels, r) for (labels, _), r in zip(vec, res))
    out = Vector((drop_name(labels), r) for (labels, _), r in zip(vec, res))
    check_unique(out)
    return out


def _math_call(fn):
    def impl(ev, node, t):
        return _map_values(ev.eval_vector(node.args[0], t), fn)

    return impl


def _scalar_arg(ev, node: Call, i: int, t: float, default: float | None = None) -> float:
    if i >= len(node.args):
        if default is None:
            raise PromQLError(f"{node.name}: missing argument {i + 1}")
        return default
    return ev.eval_scalar(node.args[i], t)


def _string_arg(ev, node: Call, i: int, t: float) -> str:
    v = ev.eval(node.args[i], t)
    if not isinstance(v, str):
        raise PromQLError(f"{node.name}: argument {i + 1} must be a string")
    return v


def _matrix_arg(ev, node: Call, i: int, t: float) -> Matrix:
    v = ev.eval(node.args[i], t)
    if not isinstance(v, Matrix):
        raise PromQLError(f"{node.name}: expected range vector as argument {i + 1}")
    return v


# Below this many series the per-series (exact-summation) path is used; above, the numpy batch path.
BATCH_MIN_SERIES = 64


def _batched(m: Matrix, name: str, keep_name: bool) -> Vector | None:
    p = batch.Packed(m)
    valid = None
    if name in ("rate", "increase", "delta"):
        values, valid = batch.extrapolated_rate(m, p, name != "delta", name == "rate")
    elif name in ("irate", "idelta"):
        values, valid = batch.instant_rate(p, name == "irate")
    elif name == "changes":
        values = batch.changes(p)
    elif name == "resets":
        values = batch.resets(p)
    else:
        values = batch.over_time(name, p)
        if values is None:
            return None
    vals = values.tolist()
    if valid is None:
        out = Vector(
            ((labels if keep_name else drop_name(labels)), v) for (labels, _, _), v in zip(m, vals)
        )
    else:
        out = Vector(
            ((labels if keep_name else drop_name(labels)), v)
            for (labels, _, _), v, ok in zip(m, vals, valid.tolist())
            if ok
        )
    if not keep_name:
        check_unique(out)
    return out


def _over_matrix(fn, keep_name: bool = False, name: str = ""):
    def impl(ev, node, t):
        m = _matrix_arg(ev, node, 0, t)
        if name and m and len(m) >= BATCH_MIN_SERIES:
            out = _batched(m, name, keep_name)
            if out is not None:
                return out
        out = Vector()
        for labels, ts, vals in m:
            r = fn(m, ts, vals)
            if r is not None:
                out.append((labels if keep_name else drop_name(labels), r))
        if not keep_name:
            check_unique(out)
        return out

    return impl


# -- implementations ---------------------------------------------------------


def _round(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    to_nearest = _scalar_arg(ev, node, 1, t, 1.0)
    return _map_values(vec, lambda v: _round_half_up(v, to_nearest))


def _clamp(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    lo = _scalar_arg(ev, node, 1, t)
    hi = _scalar_arg(ev, node, 2, t)
    if hi < lo:
        return Vector()
    return _map_values(vec, lambda v: np.maximum(lo, np.minimum(hi, v)))


def _clamp_min(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    lo = _scalar_arg(ev, node, 1, t)
    return _map_values(vec, lambda v: np.maximum(lo, v))


def _clamp_max(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    hi = _scalar_arg(ev, node, 1, t)
    return _map_values(vec, lambda v: np.minimum(hi, v))


def _time(ev, node, t):
    return float(t)


def _query_start(ev, node, t):
    return float(ev.start)


def _query_end(ev, node, t):
    return float(ev.end)


def _query_range(ev, node, t):
    return float(ev.end - ev.start)


def _query_step(ev, node, t):
    return float(ev.step)


def _min_of(ev, node, t):
    a, b = _scalar_arg(ev, node, 0, t), _scalar_arg(ev, node, 1, t)
    return math.nan if math.isnan(a) or math.isnan(b) else min(a, b)


def _max_of(ev, node, t):
    a, b = _scalar_arg(ev, node, 0, t), _scalar_arg(ev, node, 1, t)
    return math.nan if math.isnan(a) or math.isnan(b) else max(a, b)


def _pi(ev, node, t):
    return math.pi


def _vector(ev, node, t):
    return Vector([(Labels(), _scalar_arg(ev, node, 0, t))])


def _scalar(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    return vec[0][1] if len(vec) == 1 else math.nan


def _timestamp(ev, node, t):
    arg = node.args[0]
    if isinstance(arg, VectorSelector):
        # the special case Prometheus makes: the sample's own timestamp, not the evaluation time
        out = Vector((drop_name(labels), ts) for labels, ts, _ in ev.select_latest(arg, t))
    else:
        out = Vector((drop_name(labels), float(t)) for labels, _ in ev.eval_vector(arg, t))
    check_unique(out)
    return out


def _date_fn(part: Callable[[datetime], float]):
    def impl(ev, node, t):
        if node.args:
            vec = ev.eval_vector(node.args[0], t)
        else:
            vec = Vector([(Labels(), float(t))])
        out = Vector()
        for labels, x in vec:
            if math.isnan(x) or math.isinf(x):
                out.append((drop_name(labels), math.nan))
                continue
            d = datetime.fromtimestamp(math.floor(x), timezone.utc)
            out.append((drop_name(labels), float(part(d))))
        check_unique(out)
        return out

    return impl


DATE_PARTS = {
    "minute": lambda d: d.minute,
    "hour": lambda d: d.hour,
    "day_of_month": lambda d: d.day,
    "day_of_week": lambda d: (d.weekday() + 1) % 7,
    "day_of_year": lambda d: d.timetuple().tm_yday,
    "days_in_month": lambda d: calendar.monthrange(d.year, d.month)[1],
    "month": lambda d: d.month,
    "year": lambda d: d.year,
}


def _sort(desc: bool):
    def impl(ev, node, t):
        vec = ev.eval_vector(node.args[0], t)
        nums = [s for s in vec if not math.isnan(s[1])]
        nans = [s for s in vec if math.isnan(s[1])]
        nums.sort(key=lambda s: s[1], reverse=desc)
        return Vector(nums + nans)

    return impl


def _natural_key(s: str):
    return [(0, int(p), "") if p.isdigit() else (1, 0, p) for p in re.split(r"(\d+)", s) if p != ""]


def _sort_by_label(desc: bool):
    def impl(ev, node, t):
        vec = ev.eval_vector(node.args[0], t)
        names = [_string_arg(ev, node, i, t) for i in range(1, len(node.args))]

        def key(s):
            return [_natural_key(s[0].get(n)) for n in names] + [_natural_key(repr(s[0]))]

        return Vector(sorted(vec, key=key, reverse=desc))

    return impl


_GO_GROUP_REF = re.compile(r"\$(?:\{(\w+)\}|(\w+))|\$\$")


def _expand(template: str, m: re.Match[str]) -> str:
    """Go's regexp.Expand: $1, ${1}, $name, ${name}; $$ is a literal $; unknown groups expand to ""."""

    def sub(g: re.Match[str]) -> str:
        if g.group(0) == "$$":
            return "$"
        name = g.group(1) or g.group(2)
        try:
            if name.isdigit():
                return m.group(int(name)) or ""
            return m.group(name) or ""
        except (IndexError, error_type):
            return ""

    return _GO_GROUP_REF.sub(sub, template)


error_type = IndexError


def _label_replace(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    dst, repl, src, regex = (_string_arg(ev, node, i, t) for i in range(1, 5))
    try:
        pattern = compile_anchored(regex)
    except ValueError as exc:
        raise PromQLError(f"invalid regular expression in label_replace(): {regex}") from exc
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_replace(): {dst}")
    out = Vector()
    for labels, x in vec:
        m = pattern.match(labels.get(src))
        if m is None:
            out.append((labels, x))
            continue
        value = _expand(repl, m)
        out.append((labels.merged({dst: value}), x))
    check_unique(out)
    return out


def _label_join(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    dst = _string_arg(ev, node, 1, t)
    sep = _string_arg(ev, node, 2, t)
    srcs = [_string_arg(ev, node, i, t) for i in range(3, len(node.args))]
    if not _LABEL_NAME.match(dst):
        raise PromQLError(f"invalid destination label name in label_join(): {dst}")
    for s in srcs:
        if not _LABEL_NAME.match(s):
            raise PromQLError(f"invalid source label name in label_join(): {s}")
    out = Vector()
    for labels, x in vec:
        value = sep.join(labels.get(s) for s in srcs)
        out.append((labels.merged({dst: value}), x))
    check_unique(out)
    return out


def _absent_labels(arg: Expr) -> Labels:
    if isinstance(arg, MatrixSelector):
        arg = arg.selector
    if not isinstance(arg, VectorSelector) or len(arg.matcher_groups) != 1:
        return Labels()
    # Prometheus's historic rule: the first `name="v"` sets the label, any later matcher on it removes it
    out: dict[str, str] = {}
    has: set[str] = set()
    for m in arg.matcher_groups[0]:
        if m.name == METRIC_NAME:
            continue
        if m.op is MatchOp.EQ and m.name not in has:
            out[m.name] = m.value
            has.add(m.name)
        else:
            out.pop(m.name, None)
    return Labels(out.items())


def _absent(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    if vec:
        return Vector()
    return Vector([(_absent_labels(node.args[0]), 1.0)])


def _absent_over_time(ev, node, t):
    m = _matrix_arg(ev, node, 0, t)
    if m:
        return Vector()
    return Vector([(_absent_labels(node.args[0]), 1.0)])


def _histogram_quantile(ev, node, t):
    q = _scalar_arg(ev, node, 0, t)
    vec = ev.eval_vector(node.args[1], t)
    out = histogram_quantile(q, vec)
    check_unique(out)
    return out


def _histogram_fraction(ev, node, t):
    lower = _scalar_arg(ev, node, 0, t)
    upper = _scalar_arg(ev, node, 1, t)
    out = histogram_fraction(lower, upper, ev.eval_vector(node.args[2], t))
    check_unique(out)
    return out


def _quantile_label(q: float) -> str:
    s = format_float(q)
    return s + ".0" if math.isfinite(q) and "." not in s else s


def _histogram_quantiles(ev, node, t):
    vec = ev.eval_vector(node.args[0], t)
    label = _string_arg(ev, node, 1, t)
    if not _LABEL_NAME.match(label):
        raise PromQLError(f"invalid label name {label!r}")
    out = Vector()
    for i in range(2, len(node.args)):
        q = _scalar_arg(ev, node, i, t)
        for labels, v in histogram_quantile(q, vec):
            out.append((labels.merged({label: _quantile_label(q)}), v))
    check_unique(out)
    return out


def _quantile_over_time(ev, node, t):
    q = _scalar_arg(ev, node, 0, t)
    m = _matrix_arg(ev, node, 1, t)
    out = Vector((drop_name(labels), quantile(q, vals)) for labels, _, vals in m)
    check_unique(out)
    return out


def _predict_linear(ev, node, t):
    m = _matrix_arg(ev, node, 0, t)
    horizon = _scalar_arg(ev, node, 1, t)
    out = Vector()
    for labels, ts, vals in m:
        if vals.shape[0] < 2:
            continue
        slope, intercept = rf.linear_regression(ts, vals, t)
        out.append((drop_name(labels), slope * horizon + intercept))
    check_unique(out)
    return out


def _deriv(m, ts, vals):
    if vals.shape[0] < 2:
        return None
    return rf.linear_regression(ts, vals, float(ts[0]))[0]


def _double_exponential_smoothing(ev, node, t):
    m = _matrix_arg(ev, node, 0, t)
    sf = _scalar_arg(ev, node, 1, t)
    tf = _scalar_arg(ev, node, 2, t)
    out = Vector()
    for labels, _, vals in m:
        r = rf.double_exponential_smoothing(vals, sf, tf)
        if r is not None:
            out.append((drop_name(labels), r))
    check_unique(out)
    return out


def _ts_of(pick: Callable[[np.ndarray], int]):
    def fn(m, ts, vals):
        if np.isnan(vals).all():
            return float(ts[-1])
        return float(ts[pick(vals)])

    return fn


def _last_index_of(fn):
    # the latest sample among equal extremes, as Prometheus 3 reports
    def pick(vals):
        target = fn(vals)
        idx = np.nonzero(vals == target)[0]
        return int(idx[-1])

    return pick


_DISPATCH: dict[str, Callable] = {
    **{name: _math_call(fn) for name, fn in MATH.items()},
    "round": _round, "clamp": _clamp, "clamp_min": _clamp_min, "clamp_max": _clamp_max,
    "time": _time, "pi": _pi, "start": _query_start, "end": _query_end, "range": _query_range,
    "step": _query_step, "min_of": _min_of, "max_of": _max_of, "histogram_quantiles": _histogram_quantiles,
    "histogram_fraction": _histogram_fraction, "vector": _vector, "scalar": _scalar, "timestamp": _timestamp,
    **{name: _date_fn(part) for name, part in DATE_PARTS.items()},
    "sort": _sort(False), "sort_desc": _sort(True),
    "sort_by_label": _sort_by_label(False), "sort_by_label_desc": _sort_by_label(True),
    "label_replace": _label_replace, "label_join": _label_join,
    "absent": _absent, "absent_over_time": _absent_over_time,
    "histogram_quantile": _histogram_quantile,
    "rate": _over_matrix(lambda m, ts, v: rf.extrapolated_rate(m, ts, v, True, True), name="rate"),
    "increase": _over_matrix(lambda m, ts, v: rf.extrapolated_rate(m, ts, v, True, False), name="increase"),
    "delta": _over_matrix(lambda m, ts, v: rf.extrapolated_rate(m, ts, v, False, False), name="delta"),
    "irate": _over_matrix(lambda m, ts, v: rf.instant_rate(ts, v, True), name="irate"),
    "idelta": _over_matrix(lambda m, ts, v: rf.instant_rate(ts, v, False), name="idelta"),
    "deriv": _over_matrix(_deriv),
    "predict_linear": _predict_linear,
    "changes": _over_matrix(lambda m, ts, v: rf.changes(v), name="changes"),
    "resets": _over_matrix(lambda m, ts, v: rf.resets(v), name="resets"),
    "quantile_over_time": _quantile_over_time,
    "double_exponential_smoothing": _double_exponential_smoothing,
    "ts_of_min_over_time": _over_matrix(_ts_of(_last_index_of(np.nanmin))),
    "ts_of_max_over_time": _over_matrix(_ts_of(_last_index_of(np.nanmax))),
    "ts_of_last_over_time": _over_matrix(lambda m, ts, v: float(ts[-1])),
    "ts_of_first_over_time": _over_matrix(lambda m, ts, v: float(ts[0])),
    **{
        name: _over_matrix(
            lambda m, ts, v, fn=fn: fn(v), keep_name=name in ("last_over_time", "first_over_time"), name=name
        )
        for name, fn in rf.OVER_TIME.items()
    },
}
