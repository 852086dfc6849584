"""Rule-file loading: the model built from a good file, and located errors for bad ones."""

from __future__ import annotations

import textwrap

import pytest

from watchdog.rules.loader import load_rule_file, load_rule_files
from watchdog.rules.model import AlertingRule, RecordingRule


def write(tmp_path, text: str, name: str = "x.rules.yml") -> str:
    p = tmp_path / name
    p.write_text(textwrap.dedent(text).lstrip("\n"))
    return str(p)


GOOD = """
groups:
  - name: demo
    interval: 15s
    limit: 10
    query_offset: 1m
    labels: {team: web}
    rules:
      - record: job:up:sum
        expr: sum by (job) (up)
        labels: {source: rule}
      - alert: DemoDown
        expr: job:up:sum == 0
        for: 1m30s
        keep_firing_for: 5m
        labels: {severity: critical, team: ops, priority: 1}
        annotations:
          summary: '{{ $labels.job }} is down'
          description: 'value {{ $value | humanize }}; label_replace style ${1} stays literal'
  - name: other
    rules:
      - alert: Always
        expr: vector(1)
"""


def test_good_file_builds_the_model(tmp_path):
    path = write(tmp_path, GOOD)
    groups, errors = load_rule_files([path])
    assert errors == []
    assert [g.name for g in groups] == ["demo", "other"]
    demo = groups[0]
    assert (demo.interval, demo.limit, demo.query_offset, demo.file) == (15.0, 10, 60.0, path)
    rec, alert = demo.rules
    assert isinstance(rec, RecordingRule) and rec.record == "job:up:sum"
    assert rec.labels == {"team": "web", "source": "rule"}
    assert isinstance(alert, AlertingRule)
    assert (alert.name, alert.for_, alert.keep_firing_for, alert.index) == ("DemoDown", 90.0, 300.0, 1)
    assert alert.labels == {"team": "ops", "severity": "critical", "priority": "1"}   # rule labels win over group labels
    assert "${1}" in alert.annotations["description"]   # no ${VAR} expansion in rule files
    assert alert.identity == f"{path}:demo:DemoDown:1"
    assert groups[1].interval is None and groups[1].rules[0].for_ == 0.0


def test_empty_file_has_no_groups(tmp_path):
    assert load_rule_files([write(tmp_path, "")]) == ([], [])
    assert load_rule_files([write(tmp_path, "groups: []\n")]) == ([], [])


BAD_CASES = [
    (
        "unknown top-level key",
        "groups: []\nrulez: []\n",
        ["2:1: rulez: unknown field"],
    ),
    (
        "unknown rule key",
        """
        groups:
          - name: g
            rules:
              - alert: A
                expr: up == 0
                severity: page
        """,
        ["6:9: groups[0].rules[0].severity: unknown field"],
    ),
    (
        "both alert and record",
        """
        groups:
          - name: g
            rules:
              - alert: A
                record: b
                expr: up
        """,
        ["4:9: groups[0].rules[0]: only one of 'record' and 'alert' must be set"],
    ),
    (
        "neither alert nor record",
        """
        groups:
          - name: g
            rules:
              - expr: up
        """,
        ["4:9: groups[0].rules[0]: one of 'record' or 'alert' must be set"],
    ),
    (
        "missing expr",
        """
        groups:
          - name: g
            rules:
              - alert: A
        """,
        ["4:9: groups[0].rules[0]: field 'expr' must be set in rule"],
    ),
    (
        "invalid PromQL",
        """
        groups:
          - name: g
            rules:
              - alert: A
                expr: up ==
              - alert: B
                expr: rate(up)
        """,
        [
            "5:9: groups[0].rules[0].expr: could not parse expression: parse error:",
            "7:9: groups[0].rules[1].expr: could not parse expression: parse error: expected type matrix in call to function 'rate', got vector",
        ],
    ),
    (
        "invalid record name and label names",
        """
        groups:
          - name: g
            labels: {"bad-group": x}
            rules:
              - record: 1bad
                expr: up
                labels: {"bad-label": x, __name__: y}
        """,
        [
            "3:14: groups[0].labels.bad-group: invalid label name: bad-group",
            "5:9: groups[0].rules[0].record: invalid recording rule name: 1bad",
            "7:18: groups[0].rules[0].labels.bad-label: invalid label name: bad-label",
            "7:34: groups[0].rules[0].labels.__name__: invalid label name: __name__",
        ],
    ),
    (
        "recording rule with alert-only fields",
        """
        groups:
          - name: g
            rules:
              - record: r
                expr: up
                for: 5m
                annotations: {summary: x}
        """,
        [
            "6:9: groups[0].rules[0].for: invalid field 'for' in recording rule",
            "7:9: groups[0].rules[0].annotations: invalid field 'annotations' in recording rule",
        ],
    ),
    (
        "duplicate group names",
        """
        groups:
          - name: g
            rules: []
          - name: g
            rules: []
        """,
        ['4:5: groups[1].name: groupname: "g" is repeated in the same file'],
    ),
    (
        "bad durations and limit",
        """
        groups:
          - name: g
            interval: 5 minutes
            limit: -1
            rules:
              - alert: A
                expr: up
                for: soon
        """,
        [
            "3:5: groups[0].interval: invalid duration '5 minutes' (use e.g. 500ms, 30s, 5m, 1h30m, 7d)",
            "4:5: groups[0].limit: Input should be greater than or equal to 0",
            "8:9: groups[0].rules[0].for: invalid duration 'soon' (use e.g. 500ms, 30s, 5m, 1h30m, 7d)",
        ],
    ),
    (
        "invalid templates and annotation names",
        """
        groups:
          - name: g
            rules:
              - alert: A
                expr: up
                labels: {team: "{{ $labels.team"}
                annotations:
                  summary: "{{ nosuchfunc $value }}"
                  bad-name: x
        """,
        [
            '6:18: groups[0].rules[0].labels.team: label "team": template: __alert_A:1:1: unclosed action',
            '8:11: groups[0].rules[0].annotations.summary: annotation "summary": template: __alert_A:1:4: function "nosuchfunc" not defined',
            "9:11: groups[0].rules[0].annotations.bad-name: invalid annotation name: bad-name",
        ],
    ),
    (
        "empty group name and non-mapping rule",
        """
        groups:
          - name: ""
            rules:
              - just a string
        """,
        [
            "2:5: groups[0].name: group name must not be empty",
            "4:9: groups[0].rules[0]: a rule must be a mapping",
        ],
    ),
    (
        "YAML syntax error",
        "groups:\n  - name: [unclosed\n",
        ["3:1: YAML syntax error:"],
    ),
    (
        "not a mapping",
        "- a\n- b\n",
        ["1:1: a rule file must be a mapping with a 'groups' list"],
    ),
]


@pytest.mark.parametrize("title, text, expected", BAD_CASES, ids=[c[0] for c in BAD_CASES])
def test_errors_are_located(tmp_path, title, text, expected):
    path = write(tmp_path, text)
    groups, errors = load_rule_files([path])
    assert groups == []
    got = sorted(str(e) for e in errors)
    assert len(got) == len(expected), got
    for line, want in zip(got, sorted(expected)):
        assert line.startswith(f"{path}:{want}"), (line, want)


def test_all_files_reported_and_good_ones_kept(tmp_path):
    good = write(tmp_path, GOOD, "good.rules.yml")
    bad = write(tmp_path, "groups:\n  - name: g\n    rules:\n      - alert: A\n", "bad.rules.yml")
    missing = str(tmp_path / "missing.rules.yml")
    groups, errors = load_rule_files([good, bad, missing])
    assert [g.file for g in groups] == [good, good]
    assert [e.path for e in errors] == [bad, missing]
    assert "cannot read file" in errors[1].message


def test_custom_parser_is_used(tmp_path):
    seen = []
    path = write(tmp_path, GOOD)
    groups, errors = load_rule_file(path, parse_expr=seen.append)
    assert errors == [] and seen == ["sum by (job) (up)", "job:up:sum == 0", "vector(1)"]
