"""Seasonal baseline: an online daily (or weekly) profile of the series.

The period is cut into `buckets`; each bucket keeps an EW mean of the samples
that fell in it, learned online. The score is the residual against the
current bucket's mean, in units of the EW deviation of all residuals (pooled,
so a bucket with few samples does not get a tiny deviation). A bucket scores
only after it has seen `min_per_bucket` samples.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score
from watchdog.durations import Duration

Z90 = 1.6449


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    period: Duration = Field(86400.0, description="1d for a daily profile, 1w for weekly")
    buckets: int = Field(48, ge=2, le=2016)
    alpha: float = Field(0.1, gt=0, lt=1, description="weight of a new sample in its bucket")
    resid_alpha: float = Field(0.01, gt=0, lt=1)
    min_per_bucket: int = Field(2, ge=1)
    threshold: float = Field(4.0, gt=0, description="|z| of the residual that scores 0.9")


class Seasonal:
    def __init__(self, p: Params) -> None:
        if p.period <= 0:
            raise ValueError("period must be positive")
        self.p = p
        self.mean = [0.0] * p.buckets
        self.count = [0] * p.buckets
        self.rvar = 0.0
        self.rn = 0

    @property
    def warm(self) -> bool:
        return self.rn >= self.p.min_per_bucket

    def bucket(self, t: float) -> int:
        return int((t % self.p.period) / self.p.period * self.p.buckets) % self.p.buckets

    def baseline(self, t: float) -> float | None:
        b = self.bucket(t)
        return self.mean[b] if self.count[b] >= self.p.min_per_bucket else None

    def raw_update(self, t: float, x: float) -> float:
        p = self.p
        b = self.bucket(t)
        c = self.count[b]
        z = 0.0
        if c == 0:
            self.mean[b] = x
        else:
            r = x - self.mean[b]
            if c >= p.min_per_bucket:
                std = math.sqrt(self.rvar)
                floor = 1e-9 + 1e-6 * abs(self.mean[b])
                z = abs(r) / (std if std > floor else floor)
                a = p.resid_alpha if self.rn * p.resid_alpha >= 1 else 1.0 / (self.rn + 1)
                self.rvar = (1 - a) * self.rvar + a * r * r
                self.rn += 1
            a = p.alpha if c * p.alpha >= 1 else 1.0 / (c + 1)
            self.mean[b] += a * r
        self.count[b] = c + 1
        return z if self.rn > 10 else 0.0

    def update(self, t: float, x: float) -> float:
        return z_to_score(self.raw_update(t, x) * Z90 / self.p.threshold)

    def state(self) -> dict[str, Any]:
        return {"mean": self.mean, "count": self.count, "rvar": self.rvar, "rn": self.rn}

    def load_state(self, s: dict[str, Any]) -> None:
        if len(s["mean"]) != self.p.buckets:
            raise ValueError("bucket count changed")
        self.mean = [float(v) for v in s["mean"]]
        self.count = [int(v) for v in s["count"]]
        self.rvar, self.rn = float(s["rvar"]), int(s["rn"])


def create(p: Params) -> Seasonal:
    return Seasonal(p)
