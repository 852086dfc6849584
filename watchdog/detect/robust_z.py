"""Robust z-score: distance of the new sample from the median of the last `window` samples, in MADs.

Score 0.9 means |z| reached `threshold`. A constant window (MAD 0) uses a tiny
floor, so any departure from a flat line scores high, which is what an
operator wants from a series that never moves.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score

Z90 = 1.6449  # the |z| at which z_to_score gives 0.9


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(240, ge=8, le=4096, description="samples in the median/MAD window")
    min_points: int = Field(30, ge=3, description="samples before scoring")
    threshold: float = Field(4.0, gt=0, description="|z| that scores 0.9")


class RobustZ:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.buf = np.zeros(p.window)
        self.n = 0

    @property
    def warm(self) -> bool:
        return self.n >= self.p.min_points

    def raw(self, x: float) -> float:
        """|z| of x against the current window (0 before warm-up)."""
        if self.n < self.p.min_points:
            return 0.0
        w = self.buf if self.n >= self.p.window else self.buf[: self.n]
        med = float(np.median(w))
        mad = float(np.median(np.abs(w - med))) * 1.4826
        floor = 1e-9 + 1e-6 * abs(med)
        return abs(x - med) / max(mad, floor)

    def raw_update(self, t: float, x: float) -> float:
        z = self.raw(x)
        self.buf[self.n % self.p.window] = x
        self.n += 1
        return z

    def update(self, t: float, x: float) -> float:
        z = self.raw(x)
        self.buf[self.n % self.p.window] = x
        self.n += 1
        return z_to_score(z * Z90 / self.p.threshold)

    def state(self) -> dict[str, Any]:
        # the ring in logical order: oldest first
        k = min(self.n, self.p.window)
        start = self.n % self.p.window if self.n >= self.p.window else 0
        ordered = np.roll(self.buf, -start)[:k] if self.n >= self.p.window else self.buf[:k]
        return {"n": self.n, "window": [float(v) for v in ordered]}

    def load_state(self, s: dict[str, Any]) -> None:
        vals = [float(v) for v in s["window"]][-self.p.window :]
        self.buf = np.zeros(self.p.window)
        self.buf[: len(vals)] = vals
        # oldest first at index 0, so the next write (at n % window) replaces the oldest
        self.n = len(vals)


def create(p: Params) -> RobustZ:
    return RobustZ(p)


__all__ = ["Params", "RobustZ", "create"]
