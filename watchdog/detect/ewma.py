"""EWMA mean/variance: z of the new sample against the exponentially weighted mean and deviation."""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score

Z90 = 1.6449


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.05, gt=0, lt=1, description="weight of the newest sample")
    min_points: int = Field(20, ge=2)
    threshold: float = Field(4.0, gt=0, description="|z| that scores 0.9")


class Ewma:
    __slots__ = ("alpha", "min_points", "k", "n", "mean", "var")

    def __init__(self, p: Params) -> None:
        self.alpha = p.alpha
        self.min_points = p.min_points
        self.k = Z90 / p.threshold
        self.n = 0
        self.mean = 0.0
        self.var = 0.0

    @property
    def warm(self) -> bool:
        return self.n >= self.min_points

    def update(self, t: float, x: float) -> float:
        return z_to_score(self.raw_update(t, x) * self.k)

    def raw_update(self, t: float, x: float) -> float:
        """|z| of x against the mean and deviation learned before it (0 during warm-up)."""
        n = self.n
        self.n = n + 1
        if n == 0:
            self.mean = x
            return 0.0
        d = x - self.mean
        std = math.sqrt(self.var)
        floor = 1e-9 + 1e-6 * abs(self.mean)
        z = abs(d) / (std if std > floor else floor)
        # learn with 1/n weights at first so the estimate is not biased by the first sample
        a = self.alpha if n * self.alpha >= 1.0 else 1.0 / (n + 1)
        self.mean += a * d
        self.var = (1.0 - a) * (self.var + a * d * d)
        return z if n >= self.min_points else 0.0

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "mean": self.mean, "var": self.var}

    def load_state(self, s: dict[str, Any]) -> None:
        self.n, self.mean, self.var = int(s["n"]), float(s["mean"]), float(s["var"])


def create(p: Params) -> Ewma:
    return Ewma(p)
