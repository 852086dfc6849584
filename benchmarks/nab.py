"""Run a detector over the NAB corpus in ../shared/nab and score it with our NAB scorer.

    .venv/bin/python benchmarks/nab.py [--detector detectors/nab.yml[:NAME]] [--nab ../shared/nab]
                                       [--out DIR] [--jobs N] [--batch]

Prints JSON: the three normalised profile scores (with their optimised
thresholds), per-category standard scores, and points/s per core (detector
CPU time only). With --out, writes the backtest CSVs (DIR/<basename>) too.
--batch runs all files at once as the slots of one vectorised model (the same
scores, ~4x faster: for tuning); points/s is then the batch speed.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)

from watchdog.detect import nabscore  # noqa: E402
from watchdog.detect.backtest import resolve_detector, score_series, score_series_batch, write_result  # noqa: E402
from watchdog.detect.csvseries import read_series  # noqa: E402


def _score_one(job: tuple[str, str, str | None]) -> tuple[str, list[float], list[str], float]:
    detector, path, out_dir = job
    spec = resolve_detector(detector)
    series = read_series(path)
    t0 = time.process_time()
    scores = score_series(spec, series)
    cpu = time.process_time() - t0
    if out_dir:
        write_result(os.path.join(out_dir, os.path.basename(path)), series, scores)
    return path, scores.tolist(), series.timestamps, cpu


def _score_batch(detector: str, paths: list[str], out_dir: str | None) -> list[tuple[str, list[float], list[str], float]] | None:
    spec = resolve_detector(detector)
    series = [read_series(p) for p in paths]
    t0 = time.process_time()
    scores = score_series_batch(spec, series)
    if scores is None:
        return None   # no vectorised model: the per-file path
    cpu = time.process_time() - t0
    total = sum(len(s.values) for s in series)
    out = []
    for path, s, sc in zip(paths, series, scores):
        if out_dir:
            write_result(os.path.join(out_dir, os.path.basename(path)), s, sc)
        out.append((path, sc.tolist(), s.timestamps, cpu * len(s.values) / total))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("--detector", default=os.path.join(ROOT, "detectors", "nab.yml"))
    ap.add_argument("--nab", default=os.path.join(os.path.dirname(ROOT), "shared", "nab"))
    ap.add_argument("--out", default=None)
    ap.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    ap.add_argument("--files", type=int, default=0, help="only the first N files (quick runs)")
    ap.add_argument("--batch", action="store_true", help="all files in one vectorised model (same scores, faster)")
    args = ap.parse_args(argv)

    with open(os.path.join(args.nab, "labels", "combined_windows.json")) as f:
        windows = json.load(f)
    paths = sorted(glob.glob(os.path.join(args.nab, "data", "*", "*.csv")))
    if args.files:
        paths = paths[: args.files]
    if args.out:
        os.makedirs(args.out, exist_ok=True)
    jobs = [(args.detector, p, args.out) for p in paths]
    wall0 = time.perf_counter()
    results = _score_batch(args.detector, paths, args.out) if args.batch else None
    if results is None:
        with ProcessPoolExecutor(max_workers=args.jobs) as pool:
            results = list(pool.map(_score_one, jobs))
    wall = time.perf_counter() - wall0

    files: dict[str, nabscore.ScoredFile] = {}
    categories: dict[str, dict[str, nabscore.ScoredFile]] = {}
    points = 0
    cpu = 0.0
    import numpy as np

    for path, scores, timestamps, used in results:
        key = os.path.relpath(path, os.path.join(args.nab, "data")).replace(os.sep, "/")
        rows = nabscore.windows_to_rows(timestamps, windows.get(key, []))
        sf = nabscore.ScoredFile(np.asarray(scores), rows)
        files[key] = sf
        categories.setdefault(key.split("/")[0], {})[key] = sf
        points += len(scores)
        cpu += used

    corpus = nabscore.score_corpus(files)
    out = {
        "detector": args.detector,
        "files": len(files),
        "points": points,
        "scores": {name: round(r.normalized, 2) for name, r in corpus.items()},
        "thresholds": {name: r.threshold for name, r in corpus.items()},
        "per_category_standard": {
            cat: round(nabscore.optimise(list(fs.values()), nabscore.PROFILES[0]).normalized, 2)
            for cat, fs in sorted(categories.items())
        },
        "points_per_second_per_core": round(points / cpu, 1) if cpu > 0 else None,
        "wall_seconds": round(wall, 2),
    }
    print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
