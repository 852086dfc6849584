"""One series' samples: a bounded numpy ring buffer of (timestamp, value) in time order."""

from __future__ import annotations

import numpy as np

_INITIAL_CAPACITY = 16


class SeriesBuffer:
    """Grows by doubling up to `max_samples`, then overwrites the oldest sample.

    Samples are kept in time order: `head` is the index of the oldest sample,
    the logical sequence is `ts[head:cap] + ts[0:head]` once the ring has wrapped.
    """

    __slots__ = ("ts", "vals", "head", "count", "max_samples", "last_t", "may_hold_stale")

    def __init__(self, max_samples: int) -> None:
        cap = max(1, min(_INITIAL_CAPACITY, max_samples))
        self.ts = np.empty(cap, dtype=np.float64)
        self.vals = np.empty(cap, dtype=np.float64)
        self.head = 0
        self.count = 0
        self.max_samples = max_samples
        self.last_t = float("-inf")
        # set once a NaN (possibly a staleness marker) is stored, so readers can skip the stale scan otherwise
        self.may_hold_stale = False

    def append(self, t: float, v: float) -> bool:
        """Add a sample; False (and nothing stored) when `t` is not after the last sample."""
        if t <= self.last_t:
            return False
        if v != v:
            self.may_hold_stale = True
        cap = self.ts.shape[0]
        if self.count == cap:
            if cap < self.max_samples:
                self._grow(min(cap * 2, self.max_samples))
                cap = self.ts.shape[0]
            else:
                # full at the bound: overwrite the oldest
                self.ts[self.head] = t
                self.vals[self.head] = v
                self.head = (self.head + 1) % cap
                self.last_t = t
                return True
        i = self.head + self.count
        if i >= cap:
            i -= cap
        self.ts[i] = t
        self.vals[i] = v
        self.count += 1
        self.last_t = t
        return True

    def _grow(self, new_cap: int) -> None:
        ts, vals = self.ordered()
        n = self.count
        self.ts = np.empty(new_cap, dtype=np.float64)
        self.vals = np.empty(new_cap, dtype=np.float64)
        self.ts[:n] = ts
        self.vals[:n] = vals
        self.head = 0

    def _segments(self) -> list[tuple[np.ndarray, np.ndarray]]:
        cap = self.ts.shape[0]
        end = self.head + self.count
        if end <= cap:
            return [(self.ts[self.head : end], self.vals[self.head : end])]
        wrap = end - cap
        return [(self.ts[self.head :], self.vals[self.head :]), (self.ts[:wrap], self.vals[:wrap])]

    def ordered(self) -> tuple[np.ndarray, np.ndarray]:
        segs = self._segments()
        if len(segs) == 1:
            return segs[0]
        return np.concatenate([s[0] for s in segs]), np.concatenate([s[1] for s in segs])

    def window(self, start: float, end: float) -> tuple[np.ndarray, np.ndarray]:
        """The samples with start < t <= end (left-open, as Prometheus 3).

        Read-only views when the window does not cross the ring's wrap point:
        valid until the next append to this series (callers use them at once).
        """
        if self.count == 0 or self.last_t <= start:
            return _EMPTY, _EMPTY
        cap = self.ts.shape[0]
        head = self.head
        end_i = head + self.count
        if end_i <= cap:
            ts = self.ts[head:end_i]
            lo = ts.searchsorted(start, "right")
            hi = ts.searchsorted(end, "right") if end < self.last_t else ts.shape[0]
            if hi <= lo:
                return _EMPTY, _EMPTY
            return ts[lo:hi], self.vals[head + lo : head + hi]
        out_t: list[np.ndarray] = []
        out_v: list[np.ndarray] = []
        for ts, vals in self._segments():
            if ts.shape[0] == 0 or ts[-1] <= start or ts[0] > end:
                continue
            lo = ts.searchsorted(start, "right")
            hi = ts.searchsorted(end, "right")
            if hi > lo:
                out_t.append(ts[lo:hi])
                out_v.append(vals[lo:hi])
        if not out_t:
            return _EMPTY, _EMPTY
        if len(out_t) == 1:
            return out_t[0], out_v[0]
        return np.concatenate(out_t), np.concatenate(out_v)

    def latest(self, start: float, end: float) -> tuple[float, float] | None:
        """The last sample with start < t <= end, or None; O(1) when `end` is at or after the newest sample."""
        if self.count == 0:
            return None
        if self.last_t <= end:
            if self.last_t <= start:
                return None
            i = (self.head + self.count - 1) % self.ts.shape[0]
            return self.last_t, float(self.vals[i])
        for ts, vals in reversed(self._segments()):
            if ts.shape[0] == 0 or ts[0] > end:
                continue
            hi = int(np.searchsorted(ts, end, side="right"))
            if hi == 0:
                continue
            t = float(ts[hi - 1])
            return (t, float(vals[hi - 1])) if t > start else None
        return None

    def drop_before(self, cutoff: float) -> int:
        """Remove samples with t < cutoff; returns how many were removed."""
        if self.count == 0:
            return 0
        ts, _ = self.ordered()
        n = int(np.searchsorted(ts, cutoff, side="left"))
        if n:
            self.head = (self.head + n) % self.ts.shape[0]
            self.count -= n
            if self.count == 0:
                self.head = 0
        return n


_EMPTY = np.empty(0, dtype=np.float64)
_EMPTY.setflags(write=False)
