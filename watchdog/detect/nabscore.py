"""A scorer for the Numenta Anomaly Benchmark, implemented from the rules in NAB's README.

Pure functions over row-indexed inputs: per file, the anomaly scores (one per
row) and the windows as inclusive (first_row, last_row) pairs. The threshold
is optimised exactly (v1.1): every distinct score is a candidate. We compute,
for each file, the change in raw score at each candidate threshold as a list
of (threshold, delta) events, so the sweep over all thresholds is one sort
and one cumulative sum.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np


@dataclass(frozen=True, slots=True)
class Profile:
    name: str
    a_tp: float
    a_fp: float
    a_fn: float


PROFILES: tuple[Profile, ...] = (
    Profile("standard", 1.0, 0.11, 1.0),
    Profile("reward_low_FP_rate", 1.0, 0.22, 1.0),
    Profile("reward_low_FN_rate", 1.0, 0.11, 2.0),
)


@dataclass(frozen=True, slots=True)
class ScoredFile:
    scores: np.ndarray                     # one anomaly score per row
    windows: tuple[tuple[int, int], ...]   # inclusive row ranges, sorted, non-overlapping


@dataclass(frozen=True, slots=True)
class ProfileResult:
    profile: str
    threshold: float
    raw: float
    null: float
    perfect: float
    normalized: float


def sigmoid(y: float) -> float:
    """NAB's scaled sigmoid: 2/(1+exp(5y)) - 1, and -1 beyond y = 3."""
    if y > 3.0:
        return -1.0
    return 2.0 / (1.0 + math.exp(5.0 * y)) - 1.0


def probation_rows(n: int) -> int:
    return min(int(math.floor(0.15 * n)), 750)


def tp_value(i: int, a: int, b: int, p: Profile) -> float:
    w = b - a + 1
    return p.a_tp * sigmoid(-(b - i + 1) / w) / sigmoid(-1.0)


def fp_value(i: int, windows: Sequence[tuple[int, int]], p: Profile) -> float:
    prev = None
    for a, b in windows:
        if b < i:
            prev = (a, b)
        else:
            break
    if prev is None:
        return -p.a_fp
    a, b = prev
    return p.a_fp * sigmoid((i - b) / max(b - a, 1))


def file_events(f: ScoredFile, p: Profile) -> tuple[float, list[tuple[float, float]]]:
    """(raw score with no detection, [(threshold, delta)]): at threshold T the raw score is
    base + sum of the deltas whose threshold >= T."""
    n = len(f.scores)
    start = probation_rows(n)
    scores = np.asarray(f.scores, dtype=np.float64)
    in_window = np.zeros(n, dtype=bool)
    events: list[tuple[float, float]] = []
    base = 0.0
    for a, b in f.windows:
        in_window[a : b + 1] = True
        base -= p.a_fn
        # earliest detection for threshold T: walk the running-max "records" of the window
        current = -p.a_fn
        records: list[tuple[float, int]] = []
        best = -math.inf
        for i in range(max(a, start), b + 1):
            s = scores[i]
            if s > best:
                best = s
                records.append((s, i))
        # lowering T past a record's score makes that record (an earlier row than the later records) the hit
        for s, i in reversed(records):
            value = tp_value(i, a, b, p)
            events.append((float(s), value - current))
            current = value
    for i in range(start, n):
        if not in_window[i]:
            events.append((float(scores[i]), fp_value(i, f.windows, p)))
    return base, events


def optimise(files: Sequence[ScoredFile], p: Profile) -> ProfileResult:
    """Best single threshold over `files` for profile `p`, and the normalised score."""
    base = 0.0
    thresholds: list[float] = []
    deltas: list[float] = []
    n_windows = 0
    for f in files:
        b, ev = file_events(f, p)
        base += b
        n_windows += len(f.windows)
        for t, d in ev:
            thresholds.append(t)
            deltas.append(d)
    null = -p.a_fn * n_windows
    perfect = p.a_tp * n_windows
    best_raw, best_t = base, math.inf
    if thresholds:
        t_arr = np.asarray(thresholds)
        d_arr = np.asarray(deltas)
        order = np.argsort(-t_arr, kind="stable")
        t_sorted = t_arr[order]
        cum = base + np.cumsum(d_arr[order])
        # a threshold includes every event with the same score: take the last index of each run
        last = np.ones(len(t_sorted), dtype=bool)
        last[:-1] = t_sorted[:-1] != t_sorted[1:]
        cands = np.nonzero(last)[0]
        k = cands[int(np.argmax(cum[cands]))]
        if cum[k] > best_raw:
            best_raw, best_t = float(cum[k]), float(t_sorted[k])
    span = perfect - null
    normalized = 100.0 * (best_raw - null) / span if span > 0 else 0.0
    return ProfileResult(p.name, best_t, best_raw, null, perfect, normalized)


def score_corpus(files: Mapping[str, ScoredFile]) -> dict[str, ProfileResult]:
    return {p.name: optimise(list(files.values()), p) for p in PROFILES}


def windows_to_rows(timestamps: Sequence[str], windows: Sequence[Sequence[str]]) -> tuple[tuple[int, int], ...]:
    """Map NAB window timestamps ("YYYY-MM-DD HH:MM:SS.ffffff") to inclusive row ranges.

    A window starts at the first row with its start timestamp and ends at the last
    row with its end timestamp (a few files repeat timestamps)."""
    first: dict[str, int] = {}
    last: dict[str, int] = {}
    for i, ts in enumerate(timestamps):
        key = ts[:19]
        first.setdefault(key, i)
        last[key] = i
    out = []
    for start, end in windows:
        a, b = first.get(start[:19]), last.get(end[:19])
        if a is None or b is None:
            raise ValueError(f"window [{start}, {end}] does not match a data row")
        out.append((a, b))
    return tuple(sorted(out))
