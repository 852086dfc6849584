"""The promtool-format rule unit-test runner: notation, output wording, lifecycle features."""

from __future__ import annotations

import math
import textwrap

import pytest

from watchdog.model import is_stale
from watchdog.rules.seriesdesc import SeriesDescError, UnsupportedSeries, parse_series_labels, parse_values
from watchdog.rules.unittest import run_file, run_files
from watchdog.rules.unittest_format import float_e, go_duration, labels_string, model_duration


def test_expanding_notation():
    assert parse_values("1+1x2 5-2x2 3x1 _ _x2 4") == [1, 2, 3, 5, 3, 1, 3, 3, None, None, None, 4]
    assert parse_values("-1+0.5x2") == [-1, -0.5, 0]
    v = parse_values("Inf -Inf NaN 0x1f 1e3 stale")
    assert v[:2] == [math.inf, -math.inf] and math.isnan(v[2]) and v[3:5] == [31, 1000] and is_stale(v[5])
    with pytest.raises(UnsupportedSeries):
        parse_values("{{sum:1 count:2}}")
    with pytest.raises(SeriesDescError):
        parse_values("1+x")
    with pytest.raises(SeriesDescError):
        parse_values("1x999999999")


def test_series_labels():
    assert parse_series_labels('up{job="a", instance="b:1"}').to_dict() == {"__name__": "up", "job": "a", "instance": "b:1"}
    assert parse_series_labels('{__name__="x", a="1"}').to_dict() == {"__name__": "x", "a": "1"}
    for bad in ('up{job=~"a"}', 'up{job="a"', "rate(up[5m])"):
        with pytest.raises(SeriesDescError):
            parse_series_labels(bad)


def test_go_formatting():
    assert [float_e(x) for x in (0.0, 1.0, 60.0, 0.5, 1234.5, -2e-7, math.inf, math.nan)] == [
        "0E+00", "1E+00", "6E+01", "5E-01", "1.2345E+03", "-2E-07", "+Inf", "NaN"]
    assert [go_duration(x) for x in (0, 0.5, 1.5, 60, 3600, 3725)] == ["0s", "500ms", "1.5s", "1m0s", "1h0m0s", "1h2m5s"]
    assert [model_duration(x) for x in (0, 300, 86400, 179.999)] == ["0s", "5m", "1d", "2m59s999ms"]
    assert labels_string({"b": 'x"y', "a": "1"}) == '{a="1", b="x\\"y"}'


def _write(tmp_path, rules: str, tests: str) -> str:
    (tmp_path / "r.rules.yml").write_text(textwrap.dedent(rules))
    path = tmp_path / "r.test.yml"
    path.write_text(textwrap.dedent(tests))
    return str(path)


RULES = """
groups:
  - name: second
    rules:
      - alert: High
        expr: level:doubled > 10
        for: 1m
        keep_firing_for: 2m
        labels: {severity: page}
        annotations:
          summary: '{{ $labels.job }} at {{ $value }} in {{ $externalLabels.cluster }}'
          broken: '{{ query "up +" }}'
  - name: first
    rules:
      - record: level:doubled
        expr: level * 2
"""


def test_keep_firing_for_external_labels_and_group_order(tmp_path):
    path = _write(tmp_path, RULES, """
        rule_files: [r.rules.yml]
        evaluation_interval: 1m
        group_eval_order: [first, second]
        tests:
          - interval: 1m
            external_labels: {cluster: eu-1}
            input_series:
              - series: 'level{job="api"}'
                values: '1 20x3 1x5'
            alert_rule_test:
              - {eval_time: 1m, alertname: High, exp_alerts: []}
              - eval_time: 2m
                alertname: High
                exp_alerts:
                  - exp_labels: {severity: page, job: api}
                    exp_annotations:
                      summary: api at 40 in eu-1
                      broken: &broken '<error expanding template: error executing template __alert_High: template: __alert_High:1:4: executing "__alert_High" at <query "up +">: error calling query: parse error: invalid promql query>'
              - eval_time: 6m
                alertname: High
                exp_alerts:
                  - exp_labels: {severity: page, job: api}
                    exp_annotations: {summary: api at 40 in eu-1, broken: *broken}
              - {eval_time: 7m, alertname: High, exp_alerts: []}
            promql_expr_test:
              - expr: ALERTS
                eval_time: 1m
                exp_samples:
                  - {labels: 'ALERTS{alertname="High", alertstate="pending", job="api", severity="page"}', value: 1}
    """)
    # the template error shows in the annotation text and is not a rule failure (as in Prometheus);
    # keep_firing_for holds the alert from 5m (condition gone) until 7m
    assert run_file(path).errors == []


def test_a_rule_error_stops_the_group_with_promtool_wording(tmp_path, capsys):
    path = _write(tmp_path, """
        groups:
          - name: g
            rules:
              - record: joined
                expr: a + on(x) b
    """, """
        rule_files: [r.rules.yml]
        tests:
          - input_series:
              - {series: 'a{x="1"}', values: '1'}
              - {series: 'b{x="1", y="1"}', values: '1'}
              - {series: 'b{x="1", y="2"}', values: '1'}
    """)
    assert run_files([path]) == 1
    out = capsys.readouterr()
    assert out.out.startswith(f"Unit Testing:  {path}\n")
    assert out.err.startswith("  FAILED:\n    rule: joined, time: 0s, err: found duplicate series for the match group")


def test_file_errors_are_located(tmp_path):
    path = _write(tmp_path, "groups: []\n", """
        rule_files: [r.rules.yml]
        tests:
          - interval: 1m
            unknown_key: 1
    """)
    (error,) = run_file(path).errors
    assert error.endswith("tests[0].unknown_key: unknown field") and ":5:" in error


def test_missing_alertname_and_bad_expected_labels(tmp_path):
    path = _write(tmp_path, "groups: []\n", """
        tests:
          - name: t
            alert_rule_test: [{eval_time: 1m, exp_alerts: []}]
          - promql_expr_test:
              - expr: vector(1)
                exp_samples: [{labels: '{a=', value: 1}]
    """)
    errors = run_file(path).errors
    assert errors[0] == "an item under alert_rule_test misses required attribute alertname at eval_time 1m (in TestGroup t)"
    assert errors[1].startswith('    expr: "vector(1)", time: 0s, err: labels "{a=": ')


def test_test_command_modes(capsys, tmp_path):
    from watchdog.cli import main

    assert main(["test", "nosuchmode", "x.yml"]) == 2
    assert "unknown mode 'nosuchmode'; known: rules, scenario" in capsys.readouterr().err
    assert main(["test", "rules"]) == 2                     # FILE is required
    assert main(["test", "rules", "--run", "(", "f.yml"]) == 2
    path = _write(tmp_path, "groups: []\n", "tests: [{promql_expr_test: [{expr: vector(2), exp_samples: [{value: 2}]}]}]\n")
    assert main(["test", "rules", path, "--run", ".*"]) == 0
    assert capsys.readouterr().out == f"Unit Testing:  {path}\n  SUCCESS\n\n"
