"""`watchdog backtest --detector FILE[:NAME] --out DIR CSV...`: run a detector over CSV files.

Each CSV (`timestamp,value`) is streamed through a fresh model in row order,
causally, and `DIR/<basename>` gets `timestamp,value,anomaly_score`, one row
per input row. Exit 0 on success, 1 on bad input (every message names the
file and line), 2 on usage errors.
"""

from __future__ import annotations

import argparse
import os
import sys
from typing import Sequence

import numpy as np

from watchdog.detect.csvseries import CsvSeries, SeriesFileError, read_series
from watchdog.detect.spec import DetectorSpec, load_detector_files


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--detector", required=True, metavar="FILE[:NAME]", help="detector file, optionally :NAME (default: its first detector)")
    p.add_argument("--out", required=True, metavar="DIR", help="output directory (created if missing)")
    p.add_argument("csv", nargs="+", metavar="CSV", help="input files with header timestamp,value")


class BacktestError(Exception):
    pass


def resolve_detector(arg: str) -> DetectorSpec:
    """FILE or FILE:NAME -> the spec; BacktestError with located messages otherwise."""
    path, name = arg, None
    if not os.path.exists(arg) and ":" in arg:
        path, name = arg.rsplit(":", 1)
    specs, errors = load_detector_files([path])
    if errors:
        raise BacktestError("\n".join(str(e) for e in errors))
    if not specs:
        raise BacktestError(f"{path}: no detectors defined")
    if name is None:
        return specs[0]
    for s in specs:
        if s.name == name:
            return s
    raise BacktestError(f"{path}: no detector named {name!r} (have: {', '.join(s.name for s in specs)})")


def score_series(spec: DetectorSpec, series: CsvSeries) -> np.ndarray:
    """Anomaly score per row, streaming a fresh model through the series in row order."""
    det = spec.new_detector()
    update = det.update
    out = np.zeros(len(series.values))
    times = series.times.tolist()
    t0 = times[0]
    warmup = spec.warmup
    for i, (t, x) in enumerate(zip(times, series.values.tolist())):
        s = update(t, x)
        out[i] = s if t - t0 >= warmup else 0.0
    return out


def score_series_batch(spec: DetectorSpec, series: Sequence[CsvSeries]) -> list[np.ndarray] | None:
    """`score_series` for many files at once, each in its own slot of the algorithm's vectorised model
    (the same scores, several times faster); None when the algorithm has no batch model."""
    batch = spec.new_batch()
    if batch is None:
        return None
    batch.grow(len(series))
    order = sorted(range(len(series)), key=lambda i: -len(series[i].values))   # active files are slots 0..k-1
    lens = np.array([len(series[i].values) for i in order])
    values = np.zeros((int(lens.max()) if len(lens) else 0, len(series)))
    for slot, i in enumerate(order):
        values[: lens[slot], slot] = series[i].values
    scores = np.zeros_like(values)
    active = len(series)
    for row in range(values.shape[0]):
        while lens[active - 1] <= row:
            active -= 1
        scores[row, :active] = batch.update(np.arange(active), values[row, :active])
    out: list[np.ndarray] = [np.zeros(0)] * len(series)
    for slot, i in enumerate(order):
        s, times = scores[: lens[slot], slot].copy(), series[i].times
        s[times - times[0] < spec.warmup] = 0.0
        out[i] = s
    return out


def write_result(path: str, series: CsvSeries, scores: np.ndarray) -> None:
    tmp = path + ".tmp"
    with open(tmp, "w", encoding="utf-8", newline="") as f:
        f.write("timestamp,value,anomaly_score\n")
        for ts, v, s in zip(series.timestamps, series.values.tolist(), scores.tolist()):
            f.write(f"{ts},{v!r},{s:.6g}\n")
    os.replace(tmp, path)


def run(detector: str, out_dir: str, csv_paths: Sequence[str], *, stderr=None) -> int:
    stderr = stderr or sys.stderr
    try:
        spec = resolve_detector(detector)
    except BacktestError as e:
        print(str(e), file=stderr)
        return 1
    seen: dict[str, str] = {}
    for p in csv_paths:
        base = os.path.basename(p)
        if base in seen:
            print(f"{p}: same basename as {seen[base]}; outputs would collide in {out_dir}", file=stderr)
            return 1
        seen[base] = p
    os.makedirs(out_dir, exist_ok=True)
    failed = 0
    for p in csv_paths:
        try:
            series = read_series(p)
        except SeriesFileError as e:
            print(str(e), file=stderr)
            failed += 1
            continue
        if series.non_increasing:
            print(
                f"{p}:{series.first_non_increasing_line}: warning: {series.non_increasing} rows with a repeated or "
                "backward timestamp; row order is used as the time axis",
                file=stderr,
            )
        write_result(os.path.join(out_dir, os.path.basename(p)), series, score_series(spec, series))
    return 1 if failed else 0


def main(args: argparse.Namespace) -> int:
    return run(args.detector, args.out, args.csv)
