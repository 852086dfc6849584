"""Vectorised range-vector functions: one numpy pass over all series of a Matrix.

Rules evaluate `rate(x[5m])` over thousands of series every few seconds; doing
the per-series arithmetic as a handful of numpy calls over the concatenated
windows instead of a Python loop per series is what keeps that cheap. Results
equal the per-series definitions in range_functions.py.
"""

from __future__ import annotations

import math

import numpy as np

from watchdog.promql.values import Matrix
from watchdog.promql.aggregate import neumaier_sum


class Packed:
    """All windows of a Matrix concatenated, with each series' start offset and length."""

    __slots__ = ("ts", "vals", "starts", "lens", "last")

    def __init__(self, m: Matrix) -> None:
        n = len(m)
        self.lens = np.fromiter((r[1].shape[0] for r in m), dtype=np.int64, count=n)
        self.ts = np.concatenate([r[1] for r in m])
        self.vals = np.concatenate([r[2] for r in m])
        self.starts = np.zeros(n, dtype=np.int64)
        if n > 1:
            np.cumsum(self.lens[:-1], out=self.starts[1:])
        self.last = self.starts + self.lens - 1

    def pair_sums(self, contrib: np.ndarray) -> np.ndarray:
        """Per-series sums of a per-adjacent-pair quantity (pairs crossing two series are zeroed)."""
        c = np.zeros(self.vals.shape[0], dtype=np.float64)
        c[:-1] = contrib
        c[self.last] = 0.0  # the pair (last of one series, first of the next)
        return np.add.reduceat(c, self.starts)


def extrapolated_rate(m: Matrix, p: Packed, is_counter: bool, is_rate: bool) -> tuple[np.ndarray, np.ndarray]:
    """(values, valid mask) as range_functions.extrapolated_rate for every series at once."""
    first_t = p.ts[p.starts]
    last_t = p.ts[p.last]
    first_v = p.vals[p.starts]
    result = p.vals[p.last] - first_v
    if is_counter:
        prev = p.vals[:-1]
        result = result + p.pair_sums(np.where(p.vals[1:] < prev, prev, 0.0))
    valid = p.lens >= 2
    n1 = np.where(valid, p.lens - 1, 1)
    sampled = last_t - first_t
    avg_between = sampled / n1
    threshold = avg_between * 1.1
    to_start = first_t - m.range_start
    to_end = m.range_end - last_t
    to_start = np.where(to_start >= threshold, avg_between / 2, to_start)
    if is_counter:
        safe = np.where(result > 0, result, 1.0)
        to_zero = np.where((result > 0) & (first_v >= 0), sampled * (first_v / safe), to_start)
        to_start = np.minimum(to_start, to_zero)
    to_end = np.where(to_end >= threshold, avg_between / 2, to_end)
    factor = (sampled + to_start + to_end) / np.where(sampled == 0, 1.0, sampled)
    if is_rate:
        factor = factor / m.range
    return result * factor, valid & (sampled != 0)


def instant_rate(p: Packed, is_rate: bool) -> tuple[np.ndarray, np.ndarray]:
    valid = p.lens >= 2
    prev_i = np.where(valid, p.last - 1, p.last)
    last = p.vals[p.last]
    prev = p.vals[prev_i]
    if is_rate:
        result = np.where(last < prev, last, last - prev)
        dt = p.ts[p.last] - p.ts[prev_i]
        valid = valid & (dt != 0)
        return result / np.where(dt == 0, 1.0, dt), valid
    return last - prev, valid


def changes(p: Packed) -> np.ndarray:
    a, b = p.vals[:-1], p.vals[1:]
    same = (a == b) | (np.isnan(a) & np.isnan(b))
    return p.pair_sums((~same).astype(np.float64))


def resets(p: Packed) -> np.ndarray:
    return p.pair_sums((p.vals[1:] < p.vals[:-1]).astype(np.float64))


def _minmax(p: Packed, fn, fill: float) -> np.ndarray:
    nan = np.isnan(p.vals)
    if not nan.any():
        return fn.reduceat(p.vals, p.starts)
    filled = np.where(nan, fill, p.vals)
    out = fn.reduceat(filled, p.starts)
    all_nan = np.add.reduceat(nan.astype(np.int64), p.starts) == p.lens
    out[all_nan] = math.nan
    return out


def over_time(name: str, p: Packed) -> np.ndarray | None:
    """Vectorised *_over_time; None when `name` has no vectorised form."""
    if name == "count_over_time":
        return p.lens.astype(np.float64)
    if name == "present_over_time":
        return np.ones(p.lens.shape[0])
    if name == "last_over_time":
        return p.vals[p.last]
    if name == "first_over_time":
        return p.vals[p.starts]
    if name == "min_over_time":
        return _minmax(p, np.minimum, math.inf)
    if name == "max_over_time":
        return _minmax(p, np.maximum, -math.inf)
    if name in ("sum_over_time", "avg_over_time"):
        if not np.isfinite(p.vals).all():
            return None
        sums = np.add.reduceat(p.vals, p.starts)
        if not np.isfinite(sums).all():
            return None  # overflow: the per-series path handles it exactly
        # where cancellation could make the plain sum inexact, redo that series with an exact sum
        bound = np.add.reduceat(np.abs(p.vals), p.starts) * p.lens * 2.3e-16
        for i in np.nonzero(bound > np.abs(sums) * 1e-12)[0].tolist():
            s, n = int(p.starts[i]), int(p.lens[i])
            sums[i] = neumaier_sum(p.vals[s : s + n].tolist())
        return sums if name == "sum_over_time" else sums / p.lens
    return None
