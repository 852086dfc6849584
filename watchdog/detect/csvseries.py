"""Reading `timestamp,value` CSV files (the NAB layout) for backtests, with errors naming file and line.

Row order is the time axis (as NAB's README prescribes): a timestamp that
repeats or goes backwards (daylight-saving artefacts) is kept and counted,
and the detector sees it 1 ms after the previous row so its clock still moves
forward. NaN, Inf, non-numbers and unparseable timestamps are errors.
"""

from __future__ import annotations

import csv
import math
from dataclasses import dataclass
from datetime import datetime, timezone

import numpy as np


class SeriesFileError(Exception):
    """`PATH:LINE: message`."""


@dataclass(frozen=True)
class CsvSeries:
    path: str
    timestamps: list[str]        # as written, for the output file
    times: np.ndarray            # unix seconds, strictly increasing (non-increasing rows nudged forward)
    values: np.ndarray
    non_increasing: int          # rows whose timestamp did not move forward
    first_non_increasing_line: int


def parse_time(text: str) -> float:
    s = text.strip()
    try:
        return float(s) if s and (s[0].isdigit() and "-" not in s and ":" not in s) else _parse_iso(s)
    except ValueError:
        raise ValueError(f"invalid timestamp {s[:40]!r} (use YYYY-MM-DD HH:MM:SS or unix seconds)") from None


def _parse_iso(s: str) -> float:
    dt = datetime.fromisoformat(s)
    if dt.tzinfo is None:
        dt = dt.replace(tzinfo=timezone.utc)
    return dt.timestamp()


def read_series(path: str, *, max_rows: int = 10_000_000) -> CsvSeries:
    timestamps: list[str] = []
    times: list[float] = []
    values: list[float] = []
    nonmono = 0
    first_nonmono = 0
    try:
        f = open(path, newline="", encoding="utf-8")
    except OSError as e:
        raise SeriesFileError(f"{path}:0: cannot read file: {e.strerror or e}") from None
    with f:
        try:
            reader = csv.reader(f)
            header = next(reader, None)
            if header is None:
                raise SeriesFileError(f"{path}:1: empty file (expected header timestamp,value)")
            cols = [h.strip().lower() for h in header]
            if len(cols) < 2 or cols[0] != "timestamp" or cols[1] != "value":
                raise SeriesFileError(f"{path}:1: expected header 'timestamp,value'")
            prev = -math.inf
            for row in reader:
                line = reader.line_num
                if not row or all(not c.strip() for c in row):
                    continue
                if len(row) < 2:
                    raise SeriesFileError(f"{path}:{line}: expected 2 columns, got {len(row)}")
                try:
                    t = parse_time(row[0])
                except ValueError as e:
                    raise SeriesFileError(f"{path}:{line}: {e}") from None
                try:
                    v = float(row[1])
                except ValueError:
                    raise SeriesFileError(f"{path}:{line}: value {row[1].strip()[:40]!r} is not a number") from None
                if not math.isfinite(v):
                    raise SeriesFileError(f"{path}:{line}: value {row[1].strip()!r} is not finite")
                if t <= prev:
                    nonmono += 1
                    first_nonmono = first_nonmono or line
                    t = prev + 0.001
                prev = t
                timestamps.append(row[0].strip())
                times.append(t)
                values.append(v)
                if len(values) > max_rows:
                    raise SeriesFileError(f"{path}:{line}: more than {max_rows} rows")
        except UnicodeDecodeError:
            raise SeriesFileError(f"{path}:0: file is not valid UTF-8") from None
        except csv.Error as e:
            raise SeriesFileError(f"{path}:{reader.line_num}: {e}") from None
    if not values:
        raise SeriesFileError(f"{path}:2: no data rows")
    return CsvSeries(path, timestamps, np.asarray(times), np.asarray(values), nonmono, first_nonmono)
