"""Turning raw deviation scores into calibrated scores, and one alarm per event.

`Likelihood` is in the spirit of Numenta's "anomaly likelihood": the mean of
the newest few raw scores is compared with the long-run mean and deviation of
that same mean (not of single raw scores: a member's raw scores are often
autocorrelated, a CUSUM above all, and a short mean of them varies far more
than independent scores would). The deviation z maps to 1 - 0.1 ** (z / level):
0.9 exactly at `level` deviations, as every other algorithm's own threshold,
so one rule threshold works across very different series. `Refractory` lowers the scores that
follow an alarm, because one event should page once.
"""

from __future__ import annotations

import math

from typing import Any


class Likelihood:
    """Streaming calibration of raw scores (EW mean/variance of their short moving average)."""

    __slots__ = ("short", "alpha", "min_std", "level", "min_points", "n", "mean", "var", "recent", "pos", "rsum")

    def __init__(self, short: int = 5, long_points: int = 2000, min_std: float = 1e-3,
                 level: float = 3.0, min_points: int = 100) -> None:
        self.short = max(1, int(short))
        self.alpha = 1.0 / max(2, int(long_points))
        self.min_std = min_std
        self.level = level
        self.min_points = max(int(min_points), self.short + 1)
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.recent = [0.0] * self.short
        self.pos = 0
        self.rsum = 0.0

    def update(self, raw: float) -> float:
        """Learn `raw`; return how unusual the recent raw scores are, in [0, 1] (0 = not above usual;
        0 also for the first `min_points` scores, while the long-run statistics settle)."""
        old = self.recent[self.pos]
        self.recent[self.pos] = raw
        self.pos = (self.pos + 1) % self.short
        self.rsum += raw - old
        self.n += 1
        if self.n < self.short:
            return 0.0   # the short mean is not yet over `short` scores
        avg = self.rsum / self.short
        if self.n == self.short:
            self.mean = avg
            return 0.0
        std = math.sqrt(self.var) if self.var > 0 else 0.0
        z = (avg - self.mean) / max(std, self.min_std)
        a = max(self.alpha, 1.0 / (self.n - self.short + 1))
        d = avg - self.mean
        self.mean += a * d
        self.var = (1 - a) * (self.var + a * d * d)
        if self.n < self.min_points or z <= 0:
            return 0.0
        return 1.0 - 0.1 ** (z / self.level)

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
