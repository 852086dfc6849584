"""`watchdog backtest` through the real CLI entry point: outputs, bad input, and real NAB files."""

from __future__ import annotations

import csv
import json
import os

import pytest

from watchdog.testing.env import require_shared
from watchdog.cli import main

DETECTORS = """
detectors:
  - {name: first, input: value, algorithm: ewma}
  - {name: second, input: value, algorithm: robust_z, params: {window: 16, min_points: 5}}
"""


def write_csv(path, rows, header="timestamp,value"):
    path.write_text(header + "\n" + "".join(f"{a},{b}\n" for a, b in rows))
    return str(path)


def rows(n, spike=None):
    out = []
    for i in range(n):
        v = 1.0 + (i % 3) * 0.01
        if spike is not None and i == spike:
            v = 50.0
        out.append((f"2024-01-01 {i // 60:02d}:{i % 60:02d}:00", v))
    return out


def read_out(path):
    with open(path) as f:
        return list(csv.DictReader(f))


def test_writes_one_row_per_input_row(tmp_path, capsys):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    a = write_csv(tmp_path / "a.csv", rows(200, spike=150))
    out = tmp_path / "out"
    assert main(["backtest", "--detector", f"{det}:second", "--out", str(out), a]) == 0
    got = read_out(out / "a.csv")
    assert len(got) == 200 and list(got[0]) == ["timestamp", "value", "anomaly_score"]
    scores = [float(r["anomaly_score"]) for r in got]
    assert scores[150] > 0.99 and max(scores[:150]) < 0.99
    assert got[150]["timestamp"] == "2024-01-01 02:30:00"


def test_default_is_first_detector_and_unknown_name_fails(tmp_path, capsys):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    a = write_csv(tmp_path / "a.csv", rows(50))
    assert main(["backtest", "--detector", str(det), "--out", str(tmp_path / "o"), a]) == 0
    assert main(["backtest", "--detector", f"{det}:nope", "--out", str(tmp_path / "o"), a]) == 1
    assert "no detector named 'nope'" in capsys.readouterr().err


def test_duplicate_basenames_are_refused(tmp_path, capsys):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    (tmp_path / "x").mkdir()
    (tmp_path / "y").mkdir()
    a = write_csv(tmp_path / "x" / "s.csv", rows(10))
    b = write_csv(tmp_path / "y" / "s.csv", rows(10))
    assert main(["backtest", "--detector", str(det), "--out", str(tmp_path / "o"), a, b]) == 1
    assert "same basename" in capsys.readouterr().err
    assert not (tmp_path / "o" / "s.csv").exists()


@pytest.mark.parametrize(
    "bad, line, message",
    [
        (("2024-01-01 00:02:00", "nan"), 4, "is not finite"),
        (("2024-01-01 00:02:00", "inf"), 4, "is not finite"),
        (("2024-01-01 00:02:00", "abc"), 4, "is not a number"),
        (("yesterday", "1.0"), 4, "invalid timestamp"),
    ],
)
def test_bad_rows_name_file_and_line(tmp_path, capsys, bad, line, message):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    p = write_csv(tmp_path / "bad.csv", rows(2) + [bad] + rows(2))
    assert main(["backtest", "--detector", str(det), "--out", str(tmp_path / "o"), p]) == 1
    err = capsys.readouterr().err
    assert f"{p}:{line}: " in err and message in err


def test_backward_timestamps_are_kept_with_a_warning(tmp_path, capsys):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    r = rows(10)
    r[5] = r[3]
    p = write_csv(tmp_path / "dst.csv", r)
    assert main(["backtest", "--detector", str(det), "--out", str(tmp_path / "o"), p]) == 0
    assert f"{p}:7: warning: 1 rows with a repeated or backward timestamp" in capsys.readouterr().err
    assert len(read_out(tmp_path / "o" / "dst.csv")) == 10


def test_bad_header_and_missing_file(tmp_path, capsys):
    det = tmp_path / "d.yml"
    det.write_text(DETECTORS)
    p = write_csv(tmp_path / "h.csv", rows(3), header="time,val")
    assert main(["backtest", "--detector", str(det), "--out", str(tmp_path / "o"), p, str(tmp_path / "missing.csv")]) == 1
    err = capsys.readouterr().err
    assert f"{p}:1: expected header 'timestamp,value'" in err
    assert "missing.csv:0: cannot read file" in err


@pytest.mark.shared
def test_nab_files_with_shipped_detector(tmp_path, root_dir):
    shared = require_shared()
    files = [
        shared / "nab" / "data" / "realKnownCause" / "ec2_request_latency_system_failure.csv",  # goes backwards
        shared / "nab" / "data" / "artificialWithAnomaly" / "art_daily_jumpsup.csv",
    ]
    out = tmp_path / "out"
    assert main(["backtest", "--detector", str(root_dir / "detectors" / "nab.yml"), "--out", str(out), *map(str, files)]) == 0
    windows = json.loads((shared / "nab" / "labels" / "combined_windows.json").read_text())
    from watchdog.detect import nabscore
    import numpy as np

    scored = {}
    for f in files:
        got = read_out(out / f.name)
        with open(f) as fh:
            n_in = sum(1 for _ in fh) - 1
        assert len(got) == n_in
        key = f"{f.parent.name}/{f.name}"
        rows_ = nabscore.windows_to_rows([r["timestamp"] for r in got], windows[key])
        scored[key] = nabscore.ScoredFile(np.array([float(r["anomaly_score"]) for r in got]), rows_)
    # both files' anomalies are found well before silence would: clearly better than the null detector
    assert nabscore.optimise(list(scored.values()), nabscore.PROFILES[0]).normalized > 50
