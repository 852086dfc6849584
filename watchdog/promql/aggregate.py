"""Aggregation operators: sum, avg, min, max, count, group, stddev, stdvar, quantile, topk, bottomk, count_values."""

from __future__ import annotations

import math
import re
from typing import TYPE_CHECKING

import numpy as np

from watchdog.model import METRIC_NAME, Labels
from watchdog.promql.ast import Aggregate
from watchdog.promql.errors import PromQLError
from watchdog.promql.values import Vector, format_float, labels_from_sorted

if TYPE_CHECKING:
    from watchdog.promql.engine import Evaluator

_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def group_key_fn(without: bool, names: tuple[str, ...]):
    """Function from a sample's Labels to its group's Labels."""
    if without:
        drop = set(names) | {METRIC_NAME}
        return lambda labels: labels_from_sorted(p for p in labels if p[0] not in drop)
    keep = set(names)
    return lambda labels: labels_from_sorted(p for p in labels if p[0] in keep)


def neumaier_sum(values: list[float]) -> float:
    """Prometheus's kahanSumInc loop (Kahan-Neumaier), step for step, so results match it to the bit:
    it recovers most cancellation but not all (functions.test's avg_over_time(metric11) gives 0 there)."""
    if not values:
        return 0.0
    s, c = values[0], 0.0
    for inc in values[1:]:
        t = s + inc
        if math.isinf(t):
            c = 0.0
        elif abs(s) >= abs(inc):
            c += (s - t) + inc
        else:
            c += (inc - t) + s
        s = t
    return s if math.isinf(s) else s + c


def kahan_sum(values: np.ndarray) -> float:
    if values.shape[0] == 0:
        return 0.0
    if np.isfinite(values).all():
        plain = float(np.sum(values))
        # no cancellation to speak of: the plain sum is as good as the compensated one
        if math.isfinite(plain) and float(np.sum(np.abs(values))) * values.shape[0] * 2.3e-16 <= abs(plain) * 1e-12:
            return plain
        return neumaier_sum(values.tolist())
    return float(np.sum(values))


def mean(values: np.ndarray) -> float:
    n = values.shape[0]
    s = kahan_sum(values)
    if math.isinf(s) and np.isfinite(values).all():
        # the sum overflowed: fall back to an incremental mean as Prometheus does
        m = 0.0
        for i, v in enumerate(values.tolist(), 1):
            m += v / i - m / i
        return m
    return s / n


def quantile(q: float, values: np.ndarray) -> float:
    """Prometheus's quantile: linear interpolation between closest ranks."""
    if values.shape[0] == 0 or math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    # NaN counts as the smallest value, as Prometheus sorts it
    nan = np.isnan(values)
    s = np.concatenate([values[nan], np.sort(values[~nan])]) if nan.any() else np.sort(values)
    n = s.shape[0]
    rank = q * (n - 1)
    lo = max(0, math.floor(rank))
    hi = min(n - 1, lo + 1)
    weight = rank - math.floor(rank)
    return float(s[lo]) * (1 - weight) + float(s[hi]) * weight


def variance(values: np.ndarray) -> float:
    if values.shape[0] == 0:
        return math.nan
    first = values[0]
    if math.isfinite(first) and (values == first).all():
        return 0.0  # exact, where a two-pass mean would leave rounding noise
    with np.errstate(all="ignore"):
        m = mean(values)
        return float(np.mean((values - m) ** 2))


def evaluate(ev: "Evaluator", node: Aggregate, t: float) -> Vector:
    op = node.op
    param = None
    if node.param is not None:
        param = ev.eval(node.param, t)
    vec = ev.eval_vector(node.expr, t)
    key_of = group_key_fn(node.without, node.grouping)
    if op in ("topk", "bottomk"):
        return _topk(vec, key_of, param, op == "bottomk")
    if op == "count_values":
        return _count_values(vec, key_of, param)
    if op in ("limitk", "limit_ratio"):
        raise PromQLError(f"unsupported: {op} (experimental)")
    groups: dict[Labels, list[float]] = {}
    for labels, x in vec:
        k = key_of(labels)
        g = groups.get(k)
        if g is None:
            groups[k] = [x]
        else:
            g.append(x)
    out = Vector()
    if op == "quantile":
        q = _scalar_param(param, op)
    for k, xs in groups.items():
        arr = np.array(xs, dtype=np.float64)
        if op == "sum":
            v = kahan_sum(arr)
        elif op == "avg":
            v = mean(arr)
        elif op == "count":
            v = float(len(xs))
        elif op == "group":
            v = 1.0
        elif op == "min":
            v = _min_max(arr, np.nanmin)
        elif op == "max":
            v = _min_max(arr, np.nanmax)
        elif op == "stddev":
            v = math.sqrt(variance(arr)) if not math.isnan(variance(arr)) else math.nan
        elif op == "stdvar":
            v = variance(arr)
        elif op == "quantile":
            v = quantile(q, arr)
        else:
            raise PromQLError(f"unsupported: aggregation {op}")
        out.append((k, v))
    return out


def _min_max(arr: np.ndarray, fn) -> float:
    if np.isnan(arr).all():
        return math.nan
    return float(fn(arr))


def _scalar_param(param, op: str) -> float:
    if not isinstance(param, float):
        raise PromQLError(f"expected scalar parameter for {op}")
    return param


def _topk(vec: Vector, key_of, param, bottom: bool) -> Vector:
    k_f = _scalar_param(param, "bottomk" if bottom else "topk")
    if math.isnan(k_f):
        raise PromQLError("Parameter value is NaN")
    if k_f >= 2**63:
        raise PromQLError(f"Scalar value {k_f:g} overflows int64")
    k = int(k_f)
    if k < 1:
        return Vector()
    groups: dict[Labels, list[tuple[Labels, float]]] = {}
    for s in vec:
        groups.setdefault(key_of(s[0]), []).append(s)
    out = Vector()
    for members in groups.values():
        # NaN sorts last for both topk and bottomk, as Prometheus does
        if bottom:
            members = sorted(members, key=lambda s: (math.isnan(s[1]), s[1] if not math.isnan(s[1]) else 0.0))
        else:
            members = sorted(members, key=lambda s: (math.isnan(s[1]), -s[1] if not math.isnan(s[1]) else 0.0))
        out.extend(members[:k])
    return out


def _count_values(vec: Vector, key_of, param) -> Vector:
    if not isinstance(param, str):
        raise PromQLError("expected string parameter for count_values")
    if not _LABEL_NAME.match(param):
        raise PromQLError(f"invalid label name {param!r}")
    counts: dict[Labels, float] = {}
    for labels, x in vec:
        k = dict(key_of(labels))
        k[param] = format_float(x)
        lk = Labels(k.items())
        counts[lk] = counts.get(lk, 0.0) + 1.0
    return Vector(counts.items())
