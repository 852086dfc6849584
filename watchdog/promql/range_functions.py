"""Functions over range vectors: rate family, *_over_time, deriv, predict_linear, changes, resets."""

from __future__ import annotations

import math

import numpy as np

from watchdog.promql.aggregate import kahan_sum, mean, quantile, variance
from watchdog.promql.errors import PromQLError
from watchdog.promql.values import Matrix


def extrapolated_rate(m: Matrix, ts: np.ndarray, vals: np.ndarray, is_counter: bool, is_rate: bool) -> float | None:
    """Prometheus's extrapolatedRate for rate/increase/delta over the window (m.range_start, m.range_end]."""
    n = vals.shape[0]
    if n < 2:
        return None
    first_t = float(ts[0])
    last_t = float(ts[-1])
    first_v = float(vals[0])
    result = float(vals[-1]) - first_v
    if is_counter:
        prev = vals[:-1]
        cur = vals[1:]
        resets = cur < prev
        if resets.any():
            result += float(prev[resets].sum())
    # Prometheus subtracts integer milliseconds; float seconds near 1.7e9 carry ~1e-7 s of noise,
    # which would show in the 8th digit of a rate
    duration_to_start = _ms_diff(first_t, m.range_start)
    duration_to_end = _ms_diff(m.range_end, last_t)
    sampled = _ms_diff(last_t, first_t)
    avg_between = sampled / (n - 1)
    threshold = avg_between * 1.1
    if duration_to_start >= threshold:
        duration_to_start = avg_between / 2
    if is_counter:
        duration_to_zero = duration_to_start
        if result > 0 and first_v >= 0:
            duration_to_zero = sampled * (first_v / result)
        if duration_to_zero < duration_to_start:
            duration_to_start = duration_to_zero
    if duration_to_end >= threshold:
        duration_to_end = avg_between / 2
    factor = (sampled + duration_to_start + duration_to_end) / sampled
    if is_rate:
        factor /= m.range
    return result * factor


def _ms_diff(a: float, b: float) -> float:
    return round((a - b) * 1000.0) / 1000.0


def instant_rate(ts: np.ndarray, vals: np.ndarray, is_rate: bool) -> float | None:
    if vals.shape[0] < 2:
        return None
    last, prev = float(vals[-1]), float(vals[-2])
    if is_rate and last < prev:
        result = last  # counter reset
    else:
        result = last - prev
    if not is_rate:
        return result
    dt = float(ts[-1] - ts[-2])
    if dt == 0:
        return None
    return result / dt


def linear_regression(ts: np.ndarray, vals: np.ndarray, intercept_time: float) -> tuple[float, float]:
    init = float(vals[0])
    if (vals == init).all():
        if math.isinf(init):
            return math.nan, math.nan
        return 0.0, init
    n = float(vals.shape[0])
    x = ts - intercept_time
    with np.errstate(all="ignore"):
        sum_x = math.fsum(x.tolist())
        sum_y = kahan_sum(vals)
        sum_xy = kahan_sum(x * vals)
        sum_x2 = math.fsum((x * x).tolist())
        cov_xy = sum_xy - sum_x * sum_y / n
        var_x = sum_x2 - sum_x * sum_x / n
        slope = cov_xy / var_x if var_x != 0 else math.nan
        intercept = sum_y / n - slope * sum_x / n
    return slope, intercept


def changes(vals: np.ndarray) -> float:
    if vals.shape[0] < 2:
        return 0.0
    prev, cur = vals[:-1], vals[1:]
    same = (prev == cur) | (np.isnan(prev) & np.isnan(cur))
    return float((~same).sum())


def resets(vals: np.ndarray) -> float:
    if vals.shape[0] < 2:
        return 0.0
    return float((vals[1:] < vals[:-1]).sum())


def _nan_aware(fn, vals: np.ndarray) -> float:
    if np.isnan(vals).all():
        return math.nan
    return float(fn(vals))


def stddev(vals: np.ndarray) -> float:
    v = variance(vals)
    return math.sqrt(v) if v >= 0 else math.nan


def mad(vals: np.ndarray) -> float:
    if np.isnan(vals).any():
        return math.nan
    med = quantile(0.5, vals)
    return quantile(0.5, np.abs(vals - med))


def double_exponential_smoothing(vals: np.ndarray, sf: float, tf: float) -> float | None:
    if not (0 < sf < 1):
        raise PromQLError(f"invalid smoothing factor. Expected: 0 < sf < 1, got: {sf:g}")
    if not (0 < tf < 1):
        raise PromQLError(f"invalid trend factor. Expected: 0 < tf < 1, got: {tf:g}")
    n = vals.shape[0]
    if n < 2:
        return None
    v = vals.tolist()
    s1 = v[0]
    b = v[1] - v[0]
    s0 = s1
    for i in range(1, n):
        x = sf * v[i]
        # trend from the previous iteration, as Prometheus computes it
        if i > 1:
            b = tf * (s1 - s0) + (1 - tf) * b
        y = (1 - sf) * (s1 + b)
        s0, s1 = s1, x + y
    return s1


OVER_TIME = {
    "avg_over_time": mean,
    "sum_over_time": kahan_sum,
    "count_over_time": lambda v: float(v.shape[0]),
    "min_over_time": lambda v: _nan_aware(np.nanmin, v),
    "max_over_time": lambda v: _nan_aware(np.nanmax, v),
    "stddev_over_time": stddev,
    "stdvar_over_time": variance,
    "last_over_time": lambda v: float(v[-1]),
    "first_over_time": lambda v: float(v[0]),
    "present_over_time": lambda v: 1.0,
    "mad_over_time": mad,
}
