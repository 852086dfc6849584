"""Pattern novelty: distance from the latest short window of values to its nearest past window.

Values are scaled by the range seen so far (causal min/max, widened slowly),
the last `window` scaled values form a pattern, and the raw score is the
distance to the nearest of up to `memory` stored past patterns (the newest
`window` patterns are skipped: they overlap the current one). Spikes, level
shifts, new rhythms and flat-lining all make patterns never seen before.
Memory per series is `memory * window` floats (8 x 1024 x 8 B = 64 KB max).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from watchdog.detect.base import z_to_score


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(8, ge=1, le=64, description="values per pattern")
    memory: int = Field(1000, ge=16, le=4096, description="past patterns kept (ring)")
    min_points: int = Field(100, ge=1)
    scale_points: int = Field(50, ge=2, description="points used to seed the value range")
    threshold: float = Field(0.1, gt=0, description="distance (in range units, RMS per value) that scores 0.9")


class Knn:
    def __init__(self, p: Params) -> None:
        self.p = p
        self.recent = np.zeros(p.window)
        self.mem = np.zeros((p.memory, p.window))
        self.stored = 0
        self.pending: list[np.ndarray] = []   # patterns not yet in memory (overlap the current one)
        self.n = 0
        self.lo = np.inf
        self.hi = -np.inf

    @property
    def warm(self) -> bool:
        return self.n >= self.p.min_points

    def raw_update(self, t: float, x: float) -> float:
        p = self.p
        self.n += 1
        if x < self.lo:
            self.lo = x
        if x > self.hi:
            self.hi = x
        self.recent[:-1] = self.recent[1:]
        self.recent[-1] = x
        if self.n < max(p.window, p.scale_points):
            return 0.0
        span = self.hi - self.lo
        if span <= 0:
            span = max(abs(self.hi), 1.0)
        pattern = (self.recent - self.lo) / span
        k = min(self.stored, p.memory)
        if k:
            d = self.mem[:k] - pattern
            dist = float(np.sqrt(np.min(np.einsum("ij,ij->i", d, d)) / p.window))
        else:
            dist = 0.0
        self.pending.append(pattern)
        if len(self.pending) > p.window:
            self.mem[self.stored % p.memory] = self.pending.pop(0)
            self.stored += 1
        return dist if self.n >= p.min_points else 0.0

    def update(self, t: float, x: float) -> float:
        return z_to_score(self.raw_update(t, x) * 1.6449 / self.p.threshold)

    def state(self) -> dict[str, Any]:
        k = min(self.stored, self.p.memory)
        return {
            "n": self.n, "lo": self.lo, "hi": self.hi, "stored": self.stored,
            "recent": self.recent.tolist(), "mem": self.mem[:k].round(5).tolist(),
            "pending": [q.round(5).tolist() for q in self.pending],
        }

    def load_state(self, s: dict[str, Any]) -> None:
        p = self.p
        mem = np.asarray(s["mem"], dtype=float).reshape(-1, p.window) if s["mem"] else np.zeros((0, p.window))
        self.mem = np.zeros((p.memory, p.window))
        k = min(len(mem), p.memory)
        self.mem[:k] = mem[:k]
        self.stored = int(s["stored"]) if len(mem) == min(int(s["stored"]), p.memory) else k
        self.n, self.lo, self.hi = int(s["n"]), float(s["lo"]), float(s["hi"])
        self.recent = np.asarray(s["recent"], dtype=float).reshape(p.window)
        self.pending = [np.asarray(q, dtype=float) for q in s["pending"]]


def create(p: Params) -> Knn:
    return Knn(p)
