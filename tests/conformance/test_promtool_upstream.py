"""promtool's own unit-test files (../shared/conformance/promtool/upstream) run by `watchdog test rules`.

Each file must give the outcome `expected.yml` lists as `upstream` (the plain
CLI call), with two named exceptions:
- unittest.yml passes with its native-histogram series and expectations
  skipped (`--skip-unsupported`), each skip named;
- unittest_v2.42.0.yml is the 2.42 copy of unittest.yml, whose expectations
  assume closed range windows (a sample exactly at `t - range` counts).
  Prometheus 3, which we follow, excludes that sample (this is why upstream
  changed the same lines in unittest.yml), so exactly those four checks fail.
The newer promtool flags (`--run`, `--ignore-unknown-fields`, `fuzzy_compare`)
are checked in the way upstream's cmd/promtool/unittest_test.go uses them.
"""

from __future__ import annotations

import re
import subprocess
import sys

import pytest
import yaml

from watchdog.rules.unittest import Options, run_file
from watchdog.testing.env import ROOT, require_shared

pytestmark = pytest.mark.shared


def _dir():
    return require_shared() / "conformance" / "promtool" / "upstream"


def _expected() -> dict[str, dict]:
    return yaml.safe_load((_dir() / "expected.yml").read_text())


NAMED_EXCEPTIONS = {"unittest.yml", "unittest_v2.42.0.yml"}


def test_every_upstream_file_gives_the_upstream_outcome():
    expected = _expected()
    assert len(expected) == 16
    mismatches = []
    for name, want in sorted(expected.items()):
        if name in NAMED_EXCEPTIONS:
            continue
        outcome = run_file(str(_dir() / name))
        got = "fail" if outcome.errors else "pass"
        if got != want["upstream"] or outcome.unsupported:
            mismatches.append((name, want["upstream"], got, outcome.errors))
    assert mismatches == []


def test_unittest_passes_with_native_histograms_named_as_unsupported():
    strict = run_file(str(_dir() / "unittest.yml"))
    assert strict.errors == ["    series: test_histogram: native histogram samples ({{...}}) are not supported"]
    outcome = run_file(str(_dir() / "unittest.yml"), Options(skip_unsupported=True))
    assert outcome.errors == []
    assert outcome.unsupported == [
        "input series test_histogram: native histogram samples ({{...}}) are not supported",
        "input series test_histogram_repeat: native histogram samples ({{...}}) are not supported",
        "input series test_histogram_increase: native histogram samples ({{...}}) are not supported",
        "promql_expr_test 'test_histogram' at 1m: native histogram samples (histogram:) are not supported",
        "promql_expr_test 'test_histogram_repeat' at 2m: native histogram samples (histogram:) are not supported",
        "promql_expr_test 'test_histogram_increase' at 2m: native histogram samples (histogram:) are not supported",
    ]


def test_v2_42_copy_differs_exactly_where_prometheus_3_closed_the_window_start():
    outcome = run_file(str(_dir() / "unittest_v2.42.0.yml"))
    heads = [e.split(",\n")[0] for e in outcome.errors]
    assert heads == [
        '    expr: "timestamp(test_missing)", time: 5m',             # 5m lookback: the sample at 0 is out at 5m
        '    expr: "count_over_time(fixed_data[1h])", time: 1h',      # 60 samples in (0, 1h], not 61
        '    expr: "job:test:count_over_time1m", time: 1m',
        '    expr: "job:test:count_over_time1m", time: 2m',
    ]
    assert "exp: {} 6.1E+01\n        got: {} 6E+01" in outcome.errors[1]


@pytest.mark.parametrize(
    "name, options, outcome",
    [
        ("rules_run.yml", Options(run=re.compile("correct")), "pass"),
        ("rules_run.yml", Options(run=re.compile("wrong")), "fail"),
        ("rules_run_extrafields.yml", Options(ignore_unknown_fields=True), "pass"),
        ("rules_run_fuzzy.yml", Options(run=re.compile("correct")), "pass"),
        ("rules_run_fuzzy.yml", Options(run=re.compile("wrong")), "fail"),
        ("rules_run_no_fuzzy.yml", Options(), "fail"),
    ],
)
def test_newer_promtool_flags(name, options, outcome):
    result = run_file(str(_dir() / name), options)
    assert ("fail" if result.errors else "pass") == outcome, result.errors


def test_cli_output_and_exit_status_as_promtool():
    d = _dir()
    ok = subprocess.run(
        [sys.executable, "-m", "watchdog.cli", "test", "rules", str(d / "long-period.yml")],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert (ok.returncode, ok.stdout) == (0, f"Unit Testing:  {d / 'long-period.yml'}\n  SUCCESS\n\n")
    bad = subprocess.run(
        [sys.executable, "-m", "watchdog.cli", "test", "rules", str(d / "failing.yml"), "--run", "Failing test"],
        capture_output=True, text=True, cwd=ROOT, timeout=60,
    )
    assert bad.returncode == 1
    assert bad.stderr == (
        "  FAILED:\n"
        "    name: Failing test,\n"
        "    alertname: Test, time: 0s, \n"
        "        exp:[\n"
        "            0:\n"
        '              Labels:{alertname="Test"}\n'
        "              Annotations:{}\n"
        "            ], \n"
        "        got:[]\n"
        '    expr: "test", time: 0s,\n'
        '        exp: {__name__="test"} 1E+00\n'
        '        got: {__name__="test"} 0E+00\n'
    )
