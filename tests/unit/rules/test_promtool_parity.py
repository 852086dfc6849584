"""The shipped rules load, and our template output equals Prometheus's (via promtool when installed; skipped otherwise).

promtool renders each annotation in a rule unit test and compares it with
`exp_annotations`; we generate the expectations with our engine, so a
passing promtool run means byte-identical output.
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from watchdog.model import Labels, Sample
from watchdog.promql.template import TemplateError, render
from watchdog.rules.loader import load_rule_files
from watchdog.rules.model import AlertingRule

from watchdog.testing.env import ROOT

TEMPLATES = [
    "{{ $value }}", "{{ $labels.instance }}", "[{{ $labels.nope }}]", "{{ $value | humanize }}", "{{ humanize1024 $value }}",
    "{{ humanizeDuration $value }}", "{{ humanizePercentage $value }}", "{{ humanizeTimestamp $value }}",
    '{{ printf "%.2f" $value }}', '{{ printf "%v|%s|%d|%q" $value $labels.a 3 $labels.a }}', '{{ printf "%d" $value }}',
    '{{ printf "%5.1f|%-6s|%x|%e|%g|%G" $value "ab" 255 $value $value $value }}',
    '{{ title "hello world-foo bar_baz" }}', '{{ reReplaceAll "(.*):(.*)" "$2/${1}x $$ $9" $labels.instance }}',
    "{{ $labels.instance | stripPort }} {{ stripDomain $labels.instance }}", '{{ match "^host" $labels.instance }}',
    "{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}", "{{ $labels }}", "{{ len $labels }}",
    "{{ if gt $value 0.5 }}big{{ else }}small{{ end }}", "{{ with $labels.nope }}x{{ else }}none{{ end }}",
    '{{ query "m" | first | value }} {{ query "m" | first | label "a" }}', '{{ range query "m" }}{{ .Labels.a }} {{ . }}{{ end }}',
    '{{ args 1 "x" }}', '{{ print 1 2 "a" 3 }}', '{{ printf "%s %s" 1 }}', "{{ 1.5 }} {{ 1e6 }} {{ 0x10 }} {{ 'a' }}",
    '{{- "  trimmed" -}}   x', '{{ printf "%q" "tab\\there\\u00e9" }}', '{{ printf "%08.3f|%+d|% d|%+v" 3.14159 5 7 2.0 }}',
    "{{ .Value }} {{ .Labels.a }} {{ and 1 0 }} {{ or 0 \"\" }} {{ not 0 }}", '{{ humanize "1234" }}',
    '{{ humanize "x" }}', "{{ gt $value 1 }}", "{{ $labels.a.b }}",
]
VALUES = ["0.75", "1000000", "1234567", "0.30000000000000004", "0", "-2.5", "1e-05", "123456", "1700000000.5", "90061"]
SERIES_LABELS = {"__name__": "m", "a": "x", "instance": "host1.example.com:9100"}


def test_shipped_demo_rules_load():
    path = str(ROOT / "rules" / "demo.rules.yml")
    groups, errors = load_rule_files([path])
    assert errors == []
    (group,) = groups
    rules = {r.name: r for r in group.rules}
    assert set(rules) == {"DemoServiceDown", "DemoServiceSlow"}
    down = rules["DemoServiceDown"]
    assert isinstance(down, AlertingRule)
    assert (down.expr, down.for_, down.labels["severity"]) == ('probe_success{target="demo"} == 0', 10.0, "critical")
    assert (rules["DemoServiceSlow"].for_, rules["DemoServiceSlow"].labels["severity"]) == (30.0, "warning")


def _expected(value: str) -> dict[str, str]:
    def query(expr: str) -> list[Sample]:
        return [Sample(Labels.of(SERIES_LABELS), float(value), 0.0)]

    out = {}
    for i, text in enumerate(TEMPLATES):
        try:
            out[f"a{i}"] = render(text, labels=SERIES_LABELS, value=float(value), query=query, name="__alert_T")
        except TemplateError as e:
            out[f"a{i}"] = f"<error expanding template: {e}>"
    return out


def _promtool() -> str:
    # optional everywhere (also in CI): promtool is a cross-check, not a dependency
    path = shutil.which("promtool")
    if path is None:
        pytest.skip("promtool is not on PATH (apt-get install prometheus to cross-check with Prometheus)")
    return path


def test_templates_render_exactly_as_promtool(tmp_path: Path):
    promtool = _promtool()
    # error messages carry a column that Prometheus offsets by its own prefix; compare those without it
    errors_at = {i for i, t in enumerate(TEMPLATES) if t in ('{{ humanize "x" }}', "{{ gt $value 1 }}", "{{ $labels.a.b }}")}
    annotations = {f"a{i}": t for i, t in enumerate(TEMPLATES) if i not in errors_at}
    rules = {"groups": [{"name": "g", "rules": [{"alert": "T", "expr": "m", "annotations": annotations}]}]}
    tests = []
    for value in VALUES:
        expected = {k: v for k, v in _expected(value).items() if k in annotations}
        tests.append({
            "interval": "1m",
            "input_series": [{"series": 'm{a="x", instance="host1.example.com:9100"}', "values": f"{value}x3"}],
            "alert_rule_test": [{
                "eval_time": "1m", "alertname": "T",
                "exp_alerts": [{"exp_labels": {"a": "x", "instance": "host1.example.com:9100"}, "exp_annotations": expected}],
            }],
        })
    (tmp_path / "t.rules.yml").write_text(yaml.safe_dump(rules, allow_unicode=True, width=10_000))
    (tmp_path / "t.test.yml").write_text(
        yaml.safe_dump({"rule_files": ["t.rules.yml"], "evaluation_interval": "1m", "tests": tests}, allow_unicode=True, width=10_000)
    )
    proc = subprocess.run([promtool, "test", "rules", str(tmp_path / "t.test.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_demo_rule_tests_pass_promtool():
    promtool = _promtool()
    check = subprocess.run([promtool, "check", "rules", str(ROOT / "rules" / "demo.rules.yml")], capture_output=True, text=True, timeout=60)
    assert check.returncode == 0, check.stdout + check.stderr
    proc = subprocess.run([promtool, "test", "rules", str(ROOT / "rules" / "demo.test.yml")], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_error_annotations_match_prometheus_wording():
    got = _expected("0.75")
    assert got[f"a{TEMPLATES.index('{{ gt $value 1 }}')}"] == (
        '<error expanding template: error executing template __alert_T: template: __alert_T:1:4: '
        'executing "__alert_T" at <gt $value 1>: error calling gt: incompatible types for comparison>'
    )
