"""Golden outputs of the Go-template engine, as Prometheus renders them."""

from __future__ import annotations

import math

import pytest

from watchdog.model import Labels, Sample
from watchdog.promql.template import TemplateError, check, go_float, go_sprintf, render

LABELS = {"instance": "host1.example.com:9100", "job": "node", "severity": "critical"}


def r(text: str, value: float | str = 0.75, **kw) -> str:
    return render(text, labels=kw.pop("labels", LABELS), value=value, **kw)


@pytest.mark.parametrize(
    "value, expected",
    [
        (1.0, "1"),
        (0.5, "0.5"),
        (0.75, "0.75"),
        (100.0, "100"),
        (123456.0, "123456"),
        (1e6, "1e+06"),
        (1234567.0, "1.234567e+06"),
        (0.1 + 0.2, "0.30000000000000004"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (1.5e-7, "1.5e-07"),
        (-2.5, "-2.5"),
        (0.0, "0"),
        (-0.0, "-0"),
        (1e21, "1e+21"),
        (float("nan"), "NaN"),
        (float("inf"), "+Inf"),
        (float("-inf"), "-Inf"),
    ],
)
def test_value_prints_like_go_percent_v(value, expected):
    assert r("{{ $value }}", value) == expected
    assert go_float(value) == expected


def test_labels_and_aliases():
    assert r("{{ $labels.instance }} of {{ $labels.job }} is {{ $value }}") == "host1.example.com:9100 of node is 0.75"
    assert r("{{ .Labels.job }} {{ .Value }}") == "node 0.75"
    assert r("{{ $externalLabels.cluster }}", external_labels={"cluster": "eu1"}) == "eu1"
    assert r("{{ .ExternalLabels.cluster }}", external_labels={"cluster": "eu1"}) == "eu1"


def test_missing_label_is_empty_like_prometheus():
    # Prometheus executes templates with missingkey=zero (checked against promtool 2.42)
    assert r("[{{ $labels.nope }}]") == "[]"
    assert r("[{{ index $labels \"nope\" }}]") == "[]"
    assert r('[{{ printf "%s" $labels.nope }}]') == "[]"
    # a map of other values (args) gives nil, which prints as <no value>
    assert r("[{{ (args 1).arg5 }}]") == "[<no value>]"


def test_string_value():
    assert r("{{ $value }}", "12.5") == "12.5"
    assert r("{{ $value | humanize }}", "1234") == "1.234k"


@pytest.mark.parametrize(
    "text, expected",
    [
        ("{{ humanize 0 }}", "0"),
        ("{{ humanize 1234567.0 }}", "1.235M"),
        ("{{ humanize 1000 }}", "1k"),
        ("{{ humanize 0.00123 }}", "1.23m"),
        ("{{ humanize 0.75 }}", "750m"),
        ("{{ humanize -5e9 }}", "-5G"),
        ("{{ humanize 12 }}", "12"),
        ("{{ humanize1024 1 }}", "1"),
        ("{{ humanize1024 1024 }}", "1ki"),
        ("{{ humanize1024 1073741824.0 }}", "1Gi"),
        ("{{ humanize1024 1500 }}", "1.465ki"),
        ("{{ humanizeDuration 0 }}", "0s"),
        ("{{ humanizeDuration 0.25 }}", "250ms"),
        ("{{ humanizeDuration 1.5 }}", "1.5s"),
        ("{{ humanizeDuration 61 }}", "1m 1s"),
        ("{{ humanizeDuration 3661 }}", "1h 1m 1s"),
        ("{{ humanizeDuration 90061 }}", "1d 1h 1m 1s"),
        ("{{ humanizeDuration -90 }}", "-1m 30s"),
        ("{{ humanizeDuration 0.000001 }}", "1us"),
        ("{{ humanizePercentage 0.1234 }}", "12.34%"),
        ("{{ humanizePercentage 1 }}", "100%"),
        ("{{ humanizePercentage 0.00012345 }}", "0.01234%"),
        ("{{ humanizeTimestamp 1700000000 }}", "2023-11-14 22:13:20 +0000 UTC"),
        ("{{ humanizeTimestamp 1700000000.5 }}", "2023-11-14 22:13:20.5 +0000 UTC"),
        ('{{ humanize "NaN" }}', "NaN"),
        ('{{ humanize "+Inf" }}', "+Inf"),
    ],
)
def test_humanize_family(text, expected):
    assert r(text) == expected


@pytest.mark.parametrize(
    "fmt, args, expected",
    [
        ("%s is %d", ("a", 5), "a is 5"),
        ("%.2f", (0.756,), "0.76"),
        ("%f", (1.5,), "1.500000"),
        ("%v", (1.5,), "1.5"),
        ("%v", (1e6,), "1e+06"),
        ("%g", (1e6,), "1e+06"),
        ("%.3g", (1234.5,), "1.23e+03"),
        ("%e", (1234.5,), "1.234500e+03"),
        ("%q", ('a"b',), '"a\\"b"'),
        ("%d%%", (5,), "5%"),
        ("%5s|%-5s|", ("ab", "cd"), "   ab|cd   |"),
        ("%05d", (42,), "00042"),
        ("%x", (255,), "ff"),
        ("%b|%#b|%o|%#o|%#x|%5b|", (5, 5, 15, 15, 255, 3), "101|0b101|17|017|0xff|   11|"),
        ("%t", (True,), "true"),
        ("%d", (1.5,), "%!d(float64=1.5)"),
        ("%s", (2,), "%!s(int=2)"),
        ("%d %d", (1,), "1 %!d(MISSING)"),
        ("%d", (1, 2), "1%!(EXTRA int=2)"),
        ("%.1f", (float("nan"),), "NaN"),
        ("%v", ({"a": "b", "c": "d"},), "map[a:b c:d]"),
        ("%+v|%5v|%-5v|", (3.0, 1.5, 2), "3|  1.5|2    |"),
        ("%08.3f|%+d|% d", (3.14159, 5, 7), "0003.142|+5| 7"),
        ("%.3s|%8.3f", ("abcdef", 3.14159), "abc|   3.142"),
        ("%c%c", (72, 105), "Hi"),
    ],
)
def test_printf_go_verbs(fmt, args, expected):
    assert go_sprintf(fmt, *args) == expected


def test_printf_in_template():
    assert r('{{ printf "%.1f%%" 99.95 }}') == "100.0%"
    assert r('{{ $value | printf "%.3f" }}') == "0.750"


def test_control_flow_and_trimming():
    assert r("{{- if gt $value 0.5 -}}\n  high\n{{- else -}}\n  low\n{{- end }}") == "high"
    assert r("{{ if lt $value 0.5 }}low{{ else if lt $value 1.0 }}mid{{ else }}high{{ end }}") == "mid"
    assert r("{{ with $labels.job }}job={{ . }}{{ end }}") == "job=node"
    assert r("{{ with $labels.nope }}x{{ else }}none{{ end }}") == "none"
    assert r("{{ range $k, $v := $labels }}{{ $k }}={{ $v }};{{ end }}") == (
        "instance=host1.example.com:9100;job=node;severity=critical;"
    )
    assert r("{{ range $labels }}{{ . }},{{ end }}") == "host1.example.com:9100,node,critical,"
    three = lambda e: [Sample(Labels.of(n=str(i)), float(i), 0) for i in (1, 2, 3)]  # noqa: E731
    assert r('{{ range $i, $s := query "x" }}{{ if eq $i 1 }}{{ continue }}{{ end }}{{ $i }}:{{ $s.Value }} {{ end }}', query=three) == "0:1 2:3 "
    assert r('{{ range query "x" }}{{ if eq .Value 2.0 }}{{ break }}{{ end }}{{ .Labels.n }}{{ end }}', query=three) == "1"
    assert r("{{ range $k, $v := args 7 8 }}{{ $k }}={{ $v }} {{ end }}") == "arg0=7 arg1=8 "
    assert r("a {{/* a comment */}}b {{- /* trimmed */ -}} c") == "a bc"
    assert r("{{ range $x := query \"none\" }}x{{ else }}empty{{ end }}", query=lambda e: []) == "empty"


def test_variables_scope_and_assign():
    assert r("{{ $x := 5 }}{{ $x }}{{ if true }}{{ $x = 6 }}{{ $y := 1 }}{{ end }}{{ $x }}") == "56"
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        r("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}")
    # an else-if sees the if's pipeline variables, not its body's
    assert r("{{ if $x := $labels.nope }}{{ $x }}{{ else if $x }}no{{ else }}none{{ end }}") == "none"
    with pytest.raises(TemplateError, match='undefined variable "\\$y"'):
        check("{{ if true }}{{ $y := 1 }}{{ else if $y }}{{ end }}")


def test_comparisons_follow_go():
    assert r('{{ if and (eq $labels.job "node") (ne $labels.severity "info") }}ok{{ end }}') == "ok"
    assert r('{{ eq $labels.job "a" "b" "node" }}') == "true"
    assert r("{{ or $labels.nope \"fallback\" }}") == "fallback"
    assert r("{{ not true }} {{ ge 2 2 }} {{ le 1.5 2.5 }}") == "false true true"
    # Go refuses to compare float64 with an int constant
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        r("{{ if gt $value 1 }}x{{ end }}")


def test_string_functions():
    assert r('{{ title "hello world-foo bar_baz" }}') == "Hello World-Foo Bar_baz"
    assert r('{{ "MiXed" | toLower }} {{ toUpper "x" }}') == "mixed X"
    assert r('{{ reReplaceAll "(.*):(.*)" "$1 port ${2}" $labels.instance }}') == "host1.example.com port 9100"
    assert r('{{ reReplaceAll "o" "$$" "foo" }}') == "f$$"
    assert r('{{ match "^host[0-9]" $labels.instance }} {{ match "^db" $labels.instance }}') == "true false"
    assert r("{{ $labels.instance | stripPort }} {{ stripDomain $labels.instance }}") == "host1.example.com host1:9100"
    assert r('{{ stripDomain "10.0.0.1:80" }} {{ stripPort "[::1]:80" }} {{ stripPort "nohost" }}') == "10.0.0.1:80 ::1 nohost"
    assert r("{{ len $labels }} {{ len \"abc\" }}") == "3 3"
    assert r('{{ "<b>" | safeHtml }} {{ html "<b>" }}') == "<b> &lt;b&gt;"


def test_query_functions():
    calls = []

    def query(expr: str):
        calls.append(expr)
        return [
            Sample(Labels.of(__name__="up", job="b", instance="i2"), 0.0, 0),
            Sample(Labels.of(__name__="up", job="a", instance="i1"), 1.0, 0),
        ]

    assert r('{{ query "up" | first | value }}', query=query) == "0"
    assert r('{{ with query "up" }}{{ . | first | label "instance" }}{{ end }}', query=query) == "i2"
    assert r('{{ range query "up" | sortByLabel "job" }}{{ .Labels.job }}={{ .Value }} {{ end }}', query=query) == "a=1 b=0 "
    assert r('{{ range query "up" }}{{ . }};{{ end }}', query=query) == "{map[__name__:up instance:i2 job:b] 0};{map[__name__:up instance:i1 job:a] 1};"
    assert calls == ["up"] * 4
    with pytest.raises(TemplateError, match="first\\(\\) called on vector with no elements"):
        r('{{ query "x" | first | value }}', query=lambda e: [])
    with pytest.raises(TemplateError, match="boom"):
        r('{{ query "x" }}', query=lambda e: (_ for _ in ()).throw(ValueError("boom")))


def test_extra_variables():
    out = r("{{ $change.version }} by {{ $change.author }}", extra={"change": {"version": "v2", "author": "ann"}})
    assert out == "v2 by ann"
    check("{{ $change.version }}", extra_vars=("change",))
    with pytest.raises(TemplateError):
        check("{{ $change.version }}")


@pytest.mark.parametrize(
    "text, message",
    [
        ("{{ foo }}", 'function "foo" not defined'),
        ("{{ $nope }}", 'undefined variable "$nope"'),
        ("{{ if true }}x", "unexpected EOF"),
        ("x {{ end }}", "unexpected {{end}}"),
        ("{{ .Labels.job", "unclosed action"),
        ("{{ printf \"%d\" ( }}", ""),
        ("{{ }}", "missing value for command"),
        ('{{ "unterminated }}', "unterminated quoted string"),
        ("{{ define \"x\" }}{{ end }}", "not supported"),
    ],
)
def test_check_rejects_bad_templates(text, message):
    with pytest.raises(TemplateError, match=None) as info:
        check(text)
    assert message in str(info.value)
    assert str(info.value).startswith("template: ")


@pytest.mark.parametrize(
    "text, message",
    [
        ('{{ humanize "x" }}', 'error calling humanize: strconv.ParseFloat: parsing "x": invalid syntax'),
        ("{{ .Nope }}", "can't evaluate field Nope"),
        ("{{ $labels.job 1 }}", "at <$labels.job 1>: job is not a method but has arguments"),
        ('{{ 1 2 }}', "can't give argument to non-function 1"),
        ('{{ reReplaceAll "(" "" "x" }}', "error parsing regexp"),
        ('{{ index $labels 1 }}', "error calling index"),
    ],
)
def test_execution_errors_are_template_errors(text, message):
    with pytest.raises(TemplateError) as info:
        r(text)
    assert message in str(info.value)


def test_templates_cannot_reach_python():
    # no attribute access beyond the declared fields, whatever the name
    for text in ("{{ .__class__ }}", "{{ $labels.__class__.__mro__ }}", "{{ .Labels.items }}"):
        out_or_err = None
        try:
            out_or_err = r(text)
        except TemplateError as e:
            out_or_err = str(e)
        assert "class" not in out_or_err.replace("__class__", "") or "can't evaluate" in out_or_err
        assert "<built-in" not in out_or_err and "method" not in out_or_err


def test_runaway_templates_are_bounded(monkeypatch):
    from watchdog.promql import template

    monkeypatch.setattr(template, "MAX_STEPS", 1000)
    huge = [Sample(Labels.of(i=str(i)), float(i), 0) for i in range(3000)]
    with pytest.raises(TemplateError, match="too many steps"):
        r('{{ range query "x" }}{{ end }}', query=lambda e: huge)
    with pytest.raises(TemplateError, match="output larger than"):
        r('{{ printf "%2000000s" "x" }}')


def test_plain_text_is_returned_unchanged():
    assert r("no templates here: 100% {single}") == "no templates here: 100% {single}"
    assert math.isnan(float(r("{{ $value }}", float("nan"))))
