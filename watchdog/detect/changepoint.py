"""Two-sided CUSUM change-point detection on standardised samples.

The reference mean/deviation adapt slowly (EW, `alpha`); the cumulative sums
of standardised departures beyond `drift` grow while the level stays shifted.
When one crosses `threshold` the change is reported (score 0.9 at the
threshold) and the reference restarts at the new level, so a level shift
alarms once, not forever.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score

Z90 = 1.6449


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.01, gt=0, lt=1, description="adaptation rate of the reference level")
    drift: float = Field(0.5, ge=0, description="slack per sample, in deviations")
    threshold: float = Field(12.0, gt=0, description="cumulative sum (in deviations) that scores 0.9")
    min_points: int = Field(30, ge=2)


class Cusum:
    __slots__ = ("p", "n", "mean", "var", "hi", "lo")

    def __init__(self, p: Params) -> None:
        self.p = p
        self.n = 0
        self.mean = 0.0
        self.var = 0.0
        self.hi = 0.0
        self.lo = 0.0

    @property
    def warm(self) -> bool:
        return self.n >= self.p.min_points

    def raw_update(self, t: float, x: float) -> float:
        """The larger cumulative sum after x, in deviations (0 during warm-up)."""
        p = self.p
        n = self.n
        self.n = n + 1
        if n == 0:
            self.mean = x
            return 0.0
        std = math.sqrt(self.var)
        floor = 1e-9 + 1e-6 * abs(self.mean)
        z = (x - self.mean) / (std if std > floor else floor)
        z = max(-50.0, min(50.0, z))  # one wild sample must not dominate the sums for long
        a = p.alpha if n * p.alpha >= 1.0 else 1.0 / (n + 1)
        d = x - self.mean
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        if n < p.min_points:
            return 0.0
        self.hi = max(0.0, self.hi + z - p.drift)
        self.lo = max(0.0, self.lo - z - p.drift)
        s = max(self.hi, self.lo)
        if s >= p.threshold:
            # change accepted: restart the reference at the new level
            self.hi = self.lo = 0.0
            self.mean = x
        return s

    def update(self, t: float, x: float) -> float:
        return z_to_score(self.raw_update(t, x) * Z90 / self.p.threshold)

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "var": self.var, "hi": self.hi, "lo": self.lo}

    def load_state(self, s: dict[str, Any]) -> None:
        self.n, self.mean, self.var = int(s["n"]), float(s["mean"]), float(s["var"])
        self.hi, self.lo = float(s["hi"]), float(s["lo"])


def create(p: Params) -> Cusum:
    return Cusum(p)
