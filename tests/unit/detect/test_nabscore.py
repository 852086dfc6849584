"""The NAB scorer on tiny inputs whose scores are worked out by hand from the README's rules."""

from __future__ import annotations

import math

import numpy as np
import pytest

from watchdog.detect import nabscore
from watchdog.detect.nabscore import PROFILES, ScoredFile, optimise, sigmoid

STD, LOW_FP, LOW_FN = PROFILES


def test_sigmoid_shape():
    assert sigmoid(-1.0) == pytest.approx(2 / (1 + math.exp(-5)) - 1)
    assert sigmoid(0.0) == 0.0
    assert sigmoid(3.5) == -1.0


def test_probation():
    assert nabscore.probation_rows(100) == 15
    assert nabscore.probation_rows(10_000) == 750


def _file(n, windows, hits):
    s = np.zeros(n)
    for i, v in hits.items():
        s[i] = v
    return ScoredFile(s, tuple(windows))


def test_hit_on_first_row_is_perfect():
    f = _file(100, [(50, 59)], {50: 1.0})
    r = optimise([f], STD)
    assert r.raw == pytest.approx(1.0)
    assert r.normalized == pytest.approx(100.0)
    assert r.threshold == 1.0


def test_silence_is_zero_and_late_hit_is_partial():
    f = _file(100, [(50, 59)], {})
    assert optimise([f], STD).normalized == pytest.approx(0.0)
    g = _file(100, [(50, 59)], {55: 1.0})
    y = -(59 - 55 + 1) / 10
    expected = sigmoid(y) / sigmoid(-1.0)
    r = optimise([g], STD)
    assert r.raw == pytest.approx(expected)
    assert r.normalized == pytest.approx(100 * (expected + 1) / 2)


def test_false_positive_costs_and_threshold_avoids_it():
    # FP before any window scores -A_FP; a higher threshold keeps only the hit
    f = _file(100, [(50, 59)], {20: 0.5, 50: 0.9})
    assert optimise([f], STD).threshold == 0.9
    # both detected at T=0.5: raw = 1 - 0.11; at T=0.9: raw = 1
    b, events = nabscore.file_events(f, STD)
    assert b == -1.0
    nonzero = sorted(e for e in events if e[0] > 0)
    assert nonzero == [(0.5, pytest.approx(-0.11)), (0.9, pytest.approx(2.0))]


def test_fp_after_window_uses_scaled_sigmoid():
    f = _file(100, [(40, 49)], {40: 1.0, 52: 1.0})
    raw = optimise([f], LOW_FP).raw
    assert raw == pytest.approx(1.0 + 0.22 * sigmoid((52 - 49) / 9))


def test_detections_in_probation_are_ignored():
    f = _file(100, [(10, 30)], {12: 1.0, 20: 0.8})
    # rows < 15 are ignored: the earliest counted detection is row 20
    r = optimise([f], STD)
    assert r.raw == pytest.approx(sigmoid(-(30 - 20 + 1) / 21) / sigmoid(-1.0))


def test_low_fn_profile_normalisation():
    f = _file(100, [(50, 59), (80, 89)], {50: 1.0})
    r = optimise([f], LOW_FN)
    assert r.null == -4.0 and r.perfect == 2.0
    assert r.normalized == pytest.approx(100 * ((1.0 - 2.0) + 4.0) / 6.0)


def test_windows_to_rows_with_repeated_timestamps():
    ts = ["2020-01-01 00:00:00", "2020-01-01 01:00:00", "2020-01-01 01:00:00", "2020-01-01 02:00:00"]
    rows = nabscore.windows_to_rows(ts, [["2020-01-01 01:00:00.000000", "2020-01-01 01:00:00.000000"]])
    assert rows == ((1, 2),)
    with pytest.raises(ValueError):
        nabscore.windows_to_rows(ts, [["2021-01-01 00:00:00.000000", "2021-01-01 00:00:00.000000"]])
