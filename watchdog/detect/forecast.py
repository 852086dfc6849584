"""Capacity forecasts: Holt's linear trend (time-aware) with an optional seasonal profile.

Publishes, besides `anomaly_score` (the one-step forecast error in deviations):
  forecast_value{horizon="4h"}            level + trend * horizon (+ season at t + horizon)
  time_to_threshold_seconds{threshold=X}  seconds until the trend line reaches X
                                          (0 when already there, +Inf when moving away or flat)
so a rule can page "disk full in 4h" before it happens.
"""

from __future__ import annotations

import math
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score
from watchdog.durations import Duration, format_duration

Z90 = 1.6449


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    alpha: float = Field(0.1, gt=0, le=1, description="level smoothing")
    beta: float = Field(0.05, gt=0, le=1, description="trend smoothing")
    horizons: list[Duration] = Field(default_factory=lambda: [3600.0, 4 * 3600.0])
    thresholds: list[float] = Field(default_factory=list)
    period: Duration | None = Field(None, description="season length (e.g. 1d); none for trend only")
    buckets: int = Field(24, ge=2, le=2016)
    min_points: int = Field(10, ge=2)
    threshold: float = Field(4.0, gt=0, description="|z| of the one-step error that scores 0.9")


class Forecast:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.n = 0
        self.level = 0.0
        self.trend = 0.0          # units per second
        self.last_t = 0.0
        self.evar = 0.0
        self.season = [0.0] * p.buckets if p.period else []
        self.horizon_labels = [format_duration(h) for h in p.horizons]
        self.threshold_labels = [_fmt(v) for v in p.thresholds]

    @property
    def warm(self) -> bool:
        return self.n >= self.p.min_points

    def _bucket(self, t: float) -> int:
        per = self.p.period or 1.0
        return int((t % per) / per * self.p.buckets) % self.p.buckets

    def _season(self, t: float) -> float:
        return self.season[self._bucket(t)] if self.season else 0.0

    def raw_update(self, t: float, x: float) -> float:
        p = self.p
        n = self.n
        self.n = n + 1
        if n == 0:
            self.level, self.last_t = x, t
            return 0.0
        dt = max(t - self.last_t, 1e-9)
        self.last_t = t
        s = self._season(t)
        pred = self.level + self.trend * dt + s
        err = x - pred
        std = math.sqrt(self.evar)
        floor = 1e-9 + 1e-6 * abs(pred)
        z = abs(err) / (std if std > floor else floor)
        a = p.alpha if n * p.alpha >= 1 else 1.0 / (n + 1)
        prev_level = self.level
        self.level = (self.level + self.trend * dt) + a * err
        if n >= 2:
            self.trend += p.beta * ((self.level - prev_level) / dt - self.trend)
        else:
            self.trend = (self.level - prev_level) / dt
        if self.season:
            b = self._bucket(t)
            self.season[b] += 0.1 * (x - self.level - self.season[b])
        ea = 0.05 if n >= 20 else 1.0 / n
        self.evar = (1 - ea) * self.evar + ea * err * err
        return z if n >= p.min_points else 0.0

    def update(self, t: float, x: float) -> float:
        return z_to_score(self.raw_update(t, x) * Z90 / self.p.threshold)

    def forecast(self, t: float, horizon: float) -> float:
        return self.level + self.trend * horizon + self._season(t + horizon)

    def time_to_threshold(self, value: float) -> float:
        gap = value - self.level
        if gap == 0:
            return 0.0
        if self.trend == 0 or (gap > 0) != (self.trend > 0):
            return math.inf
        return gap / self.trend

    def outputs(self, t: float) -> list[tuple[str, dict[str, str], float]]:
        if not self.warm:
            return []
        out = [
            ("forecast_value", {"horizon": lab}, self.forecast(self.last_t, h))
            for lab, h in zip(self.horizon_labels, self.p.horizons)
        ]
        out += [
            ("time_to_threshold_seconds", {"threshold": lab}, self.time_to_threshold(v))
            for lab, v in zip(self.threshold_labels, self.p.thresholds)
        ]
        return out

    def state(self) -> dict[str, Any]:
        return {"n": self.n, "level": self.level, "trend": self.trend, "last_t": self.last_t, "evar": self.evar, "season": self.season}

    def load_state(self, s: dict[str, Any]) -> None:
        if len(s["season"]) != len(self.season):
            raise ValueError("season changed")
        self.n, self.level, self.trend = int(s["n"]), float(s["level"]), float(s["trend"])
        self.last_t, self.evar = float(s["last_t"]), float(s["evar"])
        self.season = [float(v) for v in s["season"]]


def _fmt(v: float) -> str:
    return repr(int(v)) if float(v).is_integer() else repr(float(v))


def create(p: Params) -> Forecast:
    return Forecast(p)
