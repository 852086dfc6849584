"""histogram_quantile over classic `le` buckets (Prometheus's BucketQuantile)."""

from __future__ import annotations

import math

from watchdog.model import METRIC_NAME, Labels
from watchdog.promql.values import Vector, labels_from_sorted

SMALL_DELTA_TOLERANCE = 1e-12


def _parse_le(s: str) -> float | None:
    try:
        return float(s.strip())
    except ValueError:
        return None


def _almost_equal(a: float, b: float, eps: float) -> bool:
    if a == b:
        return True
    diff = abs(a - b)
    if a == 0 or b == 0 or diff < 2.2250738585072014e-308:
        return diff < eps * 2.2250738585072014e-308
    return diff / min(abs(a) + abs(b), 1.7976931348623157e308) < eps


def _coalesced(buckets: list[tuple[float, float]]) -> list[list[float]] | None:
    """[upper bound, count] sorted by bound, buckets of the same bound added up; None without a +Inf bucket."""
    buckets = sorted(buckets, key=lambda b: b[0])
    if not buckets or not math.isinf(buckets[-1][0]) or buckets[-1][0] < 0:
        return None
    merged: list[list[float]] = []
    for ub, c in buckets:
        if merged and merged[-1][0] == ub:
            merged[-1][1] += c
        else:
            merged.append([ub, c])
    return merged


def bucket_quantile(q: float, buckets: list[tuple[float, float]]) -> float:
    """`buckets` are (upper bound, cumulative count)."""
    if math.isnan(q):
        return math.nan
    if q < 0:
        return -math.inf
    if q > 1:
        return math.inf
    merged = _coalesced(buckets)
    if merged is None:
        return math.nan
    # force monotonic counts and ignore tiny floating-point deltas
    prev = merged[0][1]
    for b in merged[1:]:
        cur = b[1]
        if cur == prev:
            continue
        if _almost_equal(prev, cur, SMALL_DELTA_TOLERANCE) or cur < prev:
            b[1] = prev
            continue
        prev = cur
    if len(merged) < 2:
        return math.nan
    observations = merged[-1][1]
    if observations == 0 or math.isnan(observations):
        return math.nan
    rank = q * observations
    b = len(merged) - 1
    for i in range(len(merged) - 1):
        if merged[i][1] >= rank:
            b = i
            break
    if b == len(merged) - 1:
        return merged[-2][0]
    if b == 0 and merged[0][0] <= 0:
        return merged[0][0]
    bucket_start = 0.0
    bucket_end = merged[b][0]
    count = merged[b][1]
    if b > 0:
        bucket_start = merged[b - 1][0]
        count -= merged[b - 1][1]
        rank -= merged[b - 1][1]
    return bucket_start + (bucket_end - bucket_start) * (rank / count)


def bucket_fraction(lower: float, upper: float, buckets: list[tuple[float, float]]) -> float:
    """Estimated fraction of observations between lower and upper (classic buckets, linear interpolation)."""
    merged = _coalesced(buckets)
    if merged is None:
        return math.nan
    count = merged[-1][1]
    if count == 0 or math.isnan(lower) or math.isnan(upper):
        return math.nan
    if lower >= upper:
        return 0.0

    def rank_at(v: float) -> float:
        rank = 0.0
        for i, (ub, c) in enumerate(merged):
            lb = merged[i - 1][0] if i > 0 else (0.0 if ub > 0 else -math.inf)
            if v <= lb:
                return rank
            if v < ub:
                if math.isinf(lb):
                    return c  # no interpolation inside an infinitely wide bucket
                if math.isinf(ub):
                    return rank
                return rank + (c - rank) * (v - lb) / (ub - lb)
            rank = c
        return count

    lo = min(rank_at(lower), count)
    hi = min(rank_at(upper), count)
    return (hi - lo) / count


def _bucket_groups(vec: Vector) -> dict[Labels, list[tuple[float, float]]]:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, x in vec:
        le = labels.get("le", None)
        if le is None:
            continue
        ub = _parse_le(le)
        if ub is None:
            continue
        key = labels_from_sorted(p for p in labels if p[0] not in ("le", METRIC_NAME))
        groups.setdefault(key, []).append((ub, x))
    return groups


def histogram_fraction(lower: float, upper: float, vec: Vector) -> Vector:
    return Vector((k, bucket_fraction(lower, upper, b)) for k, b in _bucket_groups(vec).items())


def histogram_quantile(q: float, vec: Vector) -> Vector:
    groups: dict[Labels, list[tuple[float, float]]] = {}
    for labels, x in vec:
        le = labels.get("le", None)
        if le is None:
            continue
        ub = _parse_le(le)
        if ub is None:
            continue
        key = labels_from_sorted(p for p in labels if p[0] not in ("le", METRIC_NAME))
        groups.setdefault(key, []).append((ub, x))
    return Vector((k, bucket_quantile(q, b)) for k, b in groups.items())
