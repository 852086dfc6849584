"""Intermediate values of an evaluation: instant vectors and range vectors (matrices).

A scalar is a plain float and a string a plain str; vectors and matrices are
list subclasses so the evaluator can tell them apart with isinstance.
"""

from __future__ import annotations

import numpy as np

from watchdog.model import METRIC_NAME, STALE_NAN_BITS, Labels


class Vector(list):
    """Instant vector: list of (Labels, float)."""

    __slots__ = ()


class Matrix(list):
    """Range vector: list of (Labels, timestamps ndarray, values ndarray), plus the window it covers."""

    __slots__ = ("range_start", "range_end")

    def __init__(self, items=(), range_start: float = 0.0, range_end: float = 0.0) -> None:
        super().__init__(items)
        self.range_start = range_start
        self.range_end = range_end

    @property
    def range(self) -> float:
        return self.range_end - self.range_start


def drop_name(labels: Labels) -> Labels:
    """`labels` without __name__; avoids re-sorting because removal keeps the order."""
    if labels and labels[0][0] == METRIC_NAME:  # the usual place: "__" sorts before lowercase names
        return tuple.__new__(Labels, labels[1:])
    for k, _ in labels:
        if k == METRIC_NAME:
            return tuple.__new__(Labels, tuple(p for p in labels if p[0] != METRIC_NAME))
    return labels


def labels_from_sorted(pairs) -> Labels:
    """Build Labels from pairs already sorted by name with non-empty values (no re-sort)."""
    return tuple.__new__(Labels, tuple(pairs))


def not_stale_mask(vals: np.ndarray) -> np.ndarray:
    return vals.view(np.uint64) != np.uint64(STALE_NAN_BITS)


def format_float(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus formats values into labels."""
    if v != v:
        return "NaN"
    if v == float("inf"):
        return "+Inf"
    if v == float("-inf"):
        return "-Inf"
    return np.format_float_positional(v, unique=True, trim="-")
