"""The Detector protocol every algorithm implements, and small shared helpers.

A detector models ONE series, in stream order, causally: `update(t, x)` sees
the sample at time `t` and returns the anomaly score at `t` in [0, 1], using
only samples up to `t`. Detectors are plain objects (no I/O, no clock): the
runner and the backtester feed them. Their whole state round-trips through
`state()`/`load_state()` as JSON-able data so models survive a restart.
"""

from __future__ import annotations

import math

_SQRT2 = math.sqrt(2.0)
from typing import Any, Protocol, runtime_checkable


@runtime_checkable
class Detector(Protocol):
    def update(self, t: float, x: float) -> float:
        """Learn the sample (t, x) and return its anomaly score in [0, 1].

        `x` is finite (callers drop NaN/Inf and stale markers); `t` increases.
        During warm-up the score is 0.
        """

    def state(self) -> dict[str, Any]:
        """JSON-serialisable model state."""

    def load_state(self, state: dict[str, Any]) -> None:
        """Restore what `state()` returned (raises ValueError on a state it cannot use)."""

    @property
    def warm(self) -> bool:
        """True once the detector has seen enough data to score."""


class ExtraOutputs(Protocol):
    """Optional: detectors that publish more series than `anomaly_score` (forecasts)."""

    def outputs(self, t: float) -> list[tuple[str, dict[str, str], float]]:
        """(metric name, extra labels, value) for the last update."""


def clamp01(x: float) -> float:
    if x != x:  # NaN
        return 0.0
    return 0.0 if x < 0.0 else 1.0 if x > 1.0 else x


def gaussian_tail(z: float) -> float:
    """P(Z > z) for a standard normal."""
    return 0.5 * math.erfc(z / _SQRT2)


def z_to_score(z: float) -> float:
    """Map a (one-sided, |z|) deviation to [0, 1]: 1 - two-sided tail probability.

    z = 2 -> 0.954, z = 3 -> 0.997, z = 4 -> 0.99994: high scores stay readable
    as "how surprising" and one threshold (0.9, 0.99) works across series.
    """
    if z != z:
        return 0.0
    return clamp01(1.0 - math.erfc(abs(z) / _SQRT2))
