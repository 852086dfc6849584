"""Turning raw deviation scores into calibrated scores, and one alarm per event.

`Likelihood` is Numenta's "anomaly likelihood": keep a long-run mean and
variance of the raw scores, compare the mean of the newest few raw scores
against it, and report the Gaussian tail probability. One threshold then
works across very different series. `Refractory` lowers the scores that
follow an alarm, because one event should page once.
"""

from __future__ import annotations

import math

_SQRT2 = math.sqrt(2.0)
from typing import Any


class Likelihood:
    """Streaming anomaly likelihood over raw scores (EW mean/variance, short moving average)."""

    __slots__ = ("short", "alpha", "min_std", "n", "mean", "var", "recent", "pos", "rsum")

    def __init__(self, short: int = 5, long_points: int = 2000, min_std: float = 1e-3) -> None:
        self.short = max(1, int(short))
        self.alpha = 1.0 / max(2, int(long_points))
        self.min_std = min_std
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.recent = [0.0] * self.short
        self.pos = 0
        self.rsum = 0.0

    def update(self, raw: float) -> float:
        """Learn `raw`; return how unusual the recent raw scores are, in [0, 1] (0 = not above the long-run mean)."""
        old = self.recent[self.pos]
        self.recent[self.pos] = raw
        self.pos = (self.pos + 1) % self.short
        self.rsum += raw - old
        k = min(self.n + 1, self.short)
        avg = self.rsum / k
        if self.n == 0:
            self.mean = raw
            z = 0.0
        else:
            std = math.sqrt(self.var) if self.var > 0 else 0.0
            z = (avg - self.mean) / max(std, self.min_std)
            a = max(self.alpha, 1.0 / (self.n + 1))
            d = raw - self.mean
            self.mean += a * d
            self.var = (1 - a) * (self.var + a * d * d)
        self.n += 1
        # 2*Phi(z) - 1 for z > 0: an ordinary recent average (z <= 0) scores 0, not Numenta's 0.5
        return 1.0 - math.erfc(z / _SQRT2) if z > 0 else 0.0

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "var": self.var, "recent": list(self.recent), "pos": self.pos}

    def load_state(self, s: dict[str, Any]) -> None:
        recent = [float(v) for v in s["recent"]]
        if len(recent) != self.short:
            raise ValueError("likelihood window changed")
        self.n, self.mean, self.var = int(s["n"]), float(s["mean"]), float(s["var"])
        self.recent, self.pos = recent, int(s["pos"]) % self.short
        self.rsum = sum(recent)


class Refractory:
    """After a score >= `level`, scores are scaled by `damping` for `points` samples."""

    __slots__ = ("level", "points", "damping", "left")

    def __init__(self, level: float = 0.99, points: int = 0, damping: float = 0.5) -> None:
        self.level = level
        self.points = int(points)
        self.damping = damping
        self.left = 0

    def apply(self, score: float) -> float:
        if self.points <= 0:
            return score
        if self.left > 0:
            self.left -= 1
            return score * self.damping
        if score >= self.level:
            self.left = self.points
        return score

    def state(self) -> dict[str, Any]:
        return {"left": self.left}

    def load_state(self, s: dict[str, Any]) -> None:
        self.left = int(s["left"])
