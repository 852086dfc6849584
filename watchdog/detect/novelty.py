"""Pattern novelty + range break, calibrated, one alarm per event: the NAB-tuned default detector.

Per series, at each sample x:
1. *Range break*: after `range_warmup` samples, x outside the range seen so
   far widened by `range_tolerance` of its span is an alarm by itself
   (Numenta's "spatial anomaly"; a series flat so far breaks with any change).
2. *Pattern novelty*: the newest `window` values, scaled by the causal
   min/max, form a pattern; its raw score is the RMS distance to the nearest
   of the last `memory` stored patterns (those overlapping it excluded).
3. *Calibration*: the mean of the newest `short` raw scores is compared to the
   long-run (EW, horizon `long`) mean and deviation of raw scores: z. An
   alarm needs `confirm` consecutive z at or above `level` (a single odd
   pattern is not an event).
4. *One alarm per event*: after an alarm the series stays quiet for
   `quiet_points` samples, or `quiet_fraction` of the samples seen so far if
   that is longer (a series watched for long has a well-known normal, so a
   new event is rarer than an echo of the last one).
The score is 1 - 0.1 ** (z / level): exactly 0.9 at the alarm level, near 1
for a range break, 0 while quiet. Rules alert on `> 0.9`.

All state lives in numpy arrays with one row ("slot") per series, so the
runner updates thousands of series in one vectorised call
(`NoveltyBatch.update`); `Novelty` is the one-series Detector on a batch of 1.
Memory per series: `memory * (window + 1)` float64 plus a few hundred bytes
(40 KB with the defaults).
"""

from __future__ import annotations

from typing import Any

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

_EMPTY = 1e6   # unfilled memory rows: far from every pattern scaled into [0, 1]


class Params(BaseModel):
    model_config = ConfigDict(extra="forbid")
    window: int = Field(4, ge=1, le=32, description="values per pattern")
    memory: int = Field(1000, ge=16, le=2000, description="past patterns kept per series")
    scale_points: int = Field(50, ge=2, description="samples that seed the value range before patterns are kept")
    min_points: int = Field(100, ge=2, description="samples before pattern novelty scores")
    short: int = Field(5, ge=1, le=100, description="newest raw scores averaged")
    long: int = Field(500, ge=10, description="horizon (samples) of the raw-score mean/deviation")
    confirm: int = Field(2, ge=1, le=2, description="consecutive calibrated scores at the level needed for an alarm")
    level: float = Field(3.0, gt=0, description="calibrated z (deviations above the usual raw score) that alarms")
    range_warmup: int = Field(300, ge=1, description="samples before a range break alarms")
    range_tolerance: float = Field(0.05, ge=0, description="fraction of the seen span a value may exceed it by")
    quiet_points: int = Field(100, ge=0, description="samples kept quiet after an alarm")
    quiet_fraction: float = Field(0.02, ge=0, le=0.5, description="...or this fraction of the samples seen, if longer")


_SCALARS = ("n", "lo", "hi", "stored", "mean", "var", "rsum", "prev_z", "quiet")


class NoveltyBatch:
    """The model of up to `capacity` series; grows on demand."""

    def __init__(self, p: Params, capacity: int = 1) -> None:
        self.p = p
        self.capacity = 0
        w, m = p.window, p.memory
        self.mem = np.zeros((0, m, w))
        self.mem_sq = np.zeros((0, m))
        self.pending = np.zeros((0, w, w))    # patterns not yet stored (they overlap the current one)
        self.recent = np.zeros((0, w))
        self.raws = np.zeros((0, p.short))
        self.n = np.zeros(0, dtype=np.int64)
        self.stored = np.zeros(0, dtype=np.int64)
        self.quiet = np.zeros(0, dtype=np.int64)
        for name in ("lo", "hi", "mean", "var", "rsum", "prev_z"):
            setattr(self, name, np.zeros(0))
        self.grow(max(1, capacity))

    # -- slots -------------------------------------------------------------------

    def grow(self, capacity: int) -> None:
        if capacity <= self.capacity:
            return
        extra = capacity - self.capacity
        p = self.p

        def more(a: np.ndarray, shape: tuple[int, ...], fill: float = 0.0) -> np.ndarray:
            return np.concatenate([a, np.full((extra,) + shape, fill, dtype=a.dtype)])

        self.mem = more(self.mem, (p.memory, p.window), _EMPTY)
        self.mem_sq = more(self.mem_sq, (p.memory,), _EMPTY * _EMPTY * p.window)
        self.pending = more(self.pending, (p.window, p.window))
        self.recent = more(self.recent, (p.window,))
        self.raws = more(self.raws, (p.short,))
        for name in ("n", "stored", "quiet", "mean", "var", "rsum", "prev_z"):
            setattr(self, name, more(getattr(self, name), ()))
        self.lo = more(self.lo, (), np.inf)
        self.hi = more(self.hi, (), -np.inf)
        self.capacity = capacity

    def reset(self, slot: int) -> None:
        """Forget slot `slot` (its series went away); it can be reused."""
        self.mem[slot] = _EMPTY
        self.mem_sq[slot] = _EMPTY * _EMPTY * self.p.window
        self.pending[slot] = 0.0
        self.recent[slot] = 0.0
        self.raws[slot] = 0.0
        for name in ("n", "stored", "quiet", "mean", "var", "rsum", "prev_z"):
            getattr(self, name)[slot] = 0
        self.lo[slot], self.hi[slot] = np.inf, -np.inf

    @property
    def warm_points(self) -> int:
        return max(self.p.min_points, self.p.range_warmup)

    def warm(self, slots: np.ndarray) -> np.ndarray:
        return self.n[slots] >= self.warm_points

    # -- the update ----------------------------------------------------------------

    def update(self, slots: np.ndarray, x: np.ndarray) -> np.ndarray:
        """Learn x[i] for series slots[i] (slots distinct); return their scores in [0, 1]."""
        p = self.p
        s = slots
        # finite by contract; clipped so spans and squares cannot overflow into inf/NaN
        x = np.clip(np.nan_to_num(np.asarray(x, dtype=np.float64), nan=0.0), -1e150, 1e150)
        # slots 0..k-1 in order (the runner's usual batch): slice views instead of copies of the memory
        contiguous = len(s) > 0 and s[0] == 0 and s[-1] == len(s) - 1 and bool(np.all(np.diff(s) == 1))
        sel = slice(0, len(s)) if contiguous else s
        n = self.n[s]

        # 1. range break, against the range before x
        lo0, hi0 = self.lo[s], self.hi[s]
        span0 = hi0 - lo0
        tol = span0 * p.range_tolerance
        # a series flat so far breaks its range with any other value
        broke = (n >= p.range_warmup) & np.isfinite(span0) & ((x > hi0 + tol) | (x < lo0 - tol))
        lo, hi = np.minimum(lo0, x), np.maximum(hi0, x)
        self.lo[s], self.hi[s] = lo, hi

        # 2. pattern novelty
        recent = self.recent[s]
        recent[:, :-1] = recent[:, 1:]
        recent[:, -1] = x
        self.recent[s] = recent
        n1 = n + 1
        span = hi - lo
        span = np.where(span > 0, span, np.maximum(np.abs(hi), 1.0))
        pattern = (recent - lo[:, None]) / span[:, None]
        scoring = n1 >= max(p.window, p.scale_points)
        raw = np.zeros(len(s))
        if scoring.any():
            mem = self.mem[sel]
            dot = np.matmul(mem, pattern[:, :, None])[:, :, 0]
            d2 = self.mem_sq[sel] - 2.0 * dot + np.einsum("ij,ij->i", pattern, pattern)[:, None]
            nearest = np.sqrt(np.maximum(d2.min(axis=1), 0.0) / p.window)
            stored = self.stored[s]
            raw = np.where(scoring & (stored > 0) & (n1 >= p.min_points), nearest, 0.0)
            # keep the pattern of w samples ago (it no longer overlaps), queue this one
            k = n1 % p.window
            rows = np.arange(len(s))
            old = self.pending[s, k]
            due = scoring & (n1 - p.window >= max(p.window, p.scale_points))
            if due.any():
                ds, dk = s[due], (stored[due] % p.memory)
                self.mem[ds, dk] = old[due]
                self.mem_sq[ds, dk] = np.einsum("ij,ij->i", old[due], old[due])
                self.stored[ds] = stored[due] + 1
            pend = self.pending[s]
            pend[rows, k] = np.where(scoring[:, None], pattern, pend[rows, k])
            self.pending[s] = pend

        # 3. calibration: short mean of raw scores against their long-run mean/deviation
        j = n % p.short
        raws = self.raws[s]
        rows = np.arange(len(s))
        old_raw = raws[rows, j]
        raws[rows, j] = raw
        self.raws[s] = raws
        rsum = self.rsum[s] + raw - old_raw
        self.rsum[s] = rsum
        avg = rsum / np.minimum(n1, p.short)
        mean, var = self.mean[s], self.var[s]
        first = n == 0
        z = np.where(first, 0.0, (avg - mean) / np.maximum(np.sqrt(var), 1e-3))
        a = np.maximum(1.0 / p.long, 1.0 / np.maximum(n1, 1))
        d = raw - mean
        self.mean[s] = np.where(first, raw, mean + a * d)
        self.var[s] = np.where(first, 0.0, (1.0 - a) * (var + a * d * d))
        z = np.maximum(z, 0.0)
        confirmed = np.minimum(z, self.prev_z[s]) if p.confirm == 2 else z
        self.prev_z[s] = z

        # 4. one alarm per event
        strength = np.where(broke, 100.0 * p.level, confirmed)
        quiet = self.quiet[s]
        quiet_now = quiet > 0
        alarm = ~quiet_now & (strength >= p.level)
        hold = np.maximum(p.quiet_points, (p.quiet_fraction * n).astype(np.int64))
        self.quiet[s] = np.where(quiet_now, quiet - 1, np.where(alarm, hold, 0))
        self.n[s] = n1
        # silent until warm: the calibration of the first scored patterns is still settling
        return np.where(quiet_now | (n1 < self.warm_points), 0.0, 1.0 - np.power(0.1, strength / p.level))

    # -- persistence -------------------------------------------------------------------

    def state(self, slot: int) -> dict[str, Any]:
        k = int(min(self.stored[slot], self.p.memory))
        out: dict[str, Any] = {name: getattr(self, name)[slot].item() for name in _SCALARS}
        out["lo"] = out["lo"] if np.isfinite(out["lo"]) else None
        out["hi"] = out["hi"] if np.isfinite(out["hi"]) else None
        out["mem"] = self.mem[slot, :k].round(6).tolist()
        out["pending"] = self.pending[slot].round(6).tolist()
        out["recent"] = self.recent[slot].tolist()
        out["raws"] = self.raws[slot].tolist()
        return out

    def load_state(self, slot: int, st: dict[str, Any]) -> None:
        p = self.p
        mem = np.asarray(st["mem"], dtype=np.float64).reshape(-1, p.window) if st["mem"] else np.zeros((0, p.window))
        pending = np.asarray(st["pending"], dtype=np.float64)
        recent = np.asarray(st["recent"], dtype=np.float64)
        raws = np.asarray(st["raws"], dtype=np.float64)
        if pending.shape != (p.window, p.window) or recent.shape != (p.window,) or raws.shape != (p.short,) or len(mem) > p.memory:
            raise ValueError("saved novelty model has other dimensions (window/memory/short changed)")
        self.reset(slot)
        self.mem[slot, : len(mem)] = mem
        self.mem_sq[slot, : len(mem)] = np.einsum("ij,ij->i", mem, mem)
        self.pending[slot], self.recent[slot], self.raws[slot] = pending, recent, raws
        for name in _SCALARS:
            getattr(self, name)[slot] = st[name] if st[name] is not None else (np.inf if name == "lo" else -np.inf)
        # the ring position must match the rows we restored
        self.stored[slot] = int(st["stored"]) if len(mem) == min(int(st["stored"]), p.memory) else len(mem)

    def nbytes_per_series(self) -> int:
        arrays = (self.mem, self.mem_sq, self.pending, self.recent, self.raws)
        return sum(a.nbytes for a in arrays) // self.capacity + len(_SCALARS) * 8


class Novelty:
    """One series (the Detector protocol) on a batch of one."""

    _SLOT = np.zeros(1, dtype=np.int64)

    def __init__(self, p: Params) -> None:
        self.batch = NoveltyBatch(p, 1)

    @property
    def warm(self) -> bool:
        return bool(self.batch.n[0] >= self.batch.warm_points)

    def update(self, t: float, x: float) -> float:
        return float(self.batch.update(self._SLOT, np.array([x]))[0])

    def state(self) -> dict[str, Any]:
        return self.batch.state(0)

    def load_state(self, s: dict[str, Any]) -> None:
        self.batch.load_state(0, s)


def create(p: Params) -> Novelty:
    return Novelty(p)


def create_batch(p: Params, capacity: int = 64) -> NoveltyBatch:
    return NoveltyBatch(p, capacity)


__all__ = ["Params", "Novelty", "NoveltyBatch", "create", "create_batch"]
