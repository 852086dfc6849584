"""Named templates (define / template / block) and Alertmanager's template functions and data methods."""

from __future__ import annotations

import pytest

from watchdog.promql import template as tmpl
from watchdog.promql.template import TemplateError, render_data
from watchdog.promql.template_format import AlertList, GoDuration, KV
from watchdog.promql.template_set import TemplateSet
from watchdog.notify import templates as notify_templates
from watchdog.notify.base import Notice, NoticeAlert

T0 = 1_700_000_000.0   # 2023-11-14 22:13:20 UTC


def _set(text: str) -> TemplateSet:
    return TemplateSet().with_text(text, "t.tmpl")


def test_define_and_template_with_pipeline_as_dot_and_dollar():
    s = _set('{{ define "item" }}<{{ .name }}|{{ $.name }}>{{ end }}')
    assert s.render('{{ range .items }}{{ template "item" . }}{{ end }}', {"items": [{"name": "a"}, {"name": "b"}]}) == "<a|a><b|b>"


def test_template_without_pipeline_has_nil_dot():
    assert _set('{{ define "x" }}[{{ . }}]{{ end }}').render('{{ template "x" }}', {}) == "[<no value>]"


def test_variables_do_not_leak_into_a_defined_template():
    with pytest.raises(TemplateError, match='undefined variable "\\$v"'):
        _set('{{ define "x" }}{{ $v }}{{ end }}')


def test_later_definition_wins_and_block_is_a_default():
    s = _set('{{ define "x" }}one{{ end }}').with_text('{{ define "x" }}two{{ end }}', "u.tmpl")
    assert s.render('{{ template "x" . }}', {}) == "two"
    assert render_data('{{ block "b" .v }}[{{ . }}]{{ end }}', {"v": 3}) == "[3]"
    assert _set('{{ define "b" }}over {{ . }}{{ end }}').render('{{ block "b" .v }}[{{ . }}]{{ end }}', {"v": 3}) == "[3]"
    # a definition in the field text itself replaces the set's
    assert s.render('{{ define "x" }}three{{ end }}{{ template "x" . }}', {}) == "three"


def test_missing_template_names_it():
    with pytest.raises(TemplateError, match='template "nope" not defined'):
        render_data('{{ template "nope" . }}', {})


def test_recursion_is_bounded():
    s = _set('{{ define "loop" }}x{{ template "loop" . }}{{ end }}')
    with pytest.raises(TemplateError, match="exceeded maximum template depth"):
        s.render('{{ template "loop" . }}', {})


def test_recursion_with_a_base_case_works():
    s = _set('{{ define "down" }}{{ if . }}{{ len . }}{{ template "down" (slice . 1) }}{{ end }}{{ end }}')
    assert s.render('{{ template "down" .xs }}', {"xs": [1, 2, 3]}) == "321"


def test_define_only_at_top_level_and_must_be_closed():
    with pytest.raises(TemplateError, match="only allowed at the top level"):
        _set('{{ if true }}{{ define "x" }}{{ end }}{{ end }}')
    with pytest.raises(TemplateError, match="unexpected EOF") as info:
        _set('{{ define "x" }}\nabc\n')
    assert (info.value.line, info.value.col) == (3, 1)


def test_rule_templates_still_reject_named_templates():
    with pytest.raises(TemplateError, match="not supported"):
        tmpl.check('{{ define "x" }}{{ end }}')
    assert "not supported" in str(pytest.raises(TemplateError, tmpl.render, '{{ template "x" . }}', labels={}).value)


def test_kv_methods_and_alert_list_methods():
    data = {"Alerts": AlertList([{"Status": "firing", "Labels": KV(a="1")}, {"Status": "resolved", "Labels": KV(a="2")}]),
            "CommonLabels": KV(alertname="X", job="j", severity="page"), "GroupLabels": KV(alertname="X")}
    assert render_data("{{ len .Alerts.Firing }}/{{ len .Alerts.Resolved }}", data) == "1/1"
    assert render_data("{{ range .Alerts.Resolved }}{{ .Labels.a }}{{ end }}", data) == "2"
    assert render_data("{{ .CommonLabels.SortedPairs }}", data) == "[{alertname X} {job j} {severity page}]"
    assert render_data('{{ range .CommonLabels.SortedPairs }}{{ .Name }}={{ .Value }};{{ end }}', data) == "alertname=X;job=j;severity=page;"
    assert render_data('{{ .CommonLabels.Names | join "," }}', data) == "alertname,job,severity"
    assert render_data('{{ (.CommonLabels.Remove .GroupLabels.Names).Values }}', data) == "[j page]"
    assert render_data('{{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}', data) == "j page"
    assert render_data('{{ .CommonLabels.SortedPairs.Values }}', data) == "[X j page]"


def test_only_allow_listed_methods_are_reachable():
    with pytest.raises(TemplateError, match="can't evaluate field upper"):
        render_data("{{ .s.upper }}", {"s": "abc"})
    with pytest.raises(TemplateError):
        render_data("{{ .Alerts.__class__ }}", {"Alerts": AlertList()})
    # a method name that is not allow-listed reads as a (missing) label
    assert render_data("{{ .L.items }}", {"L": KV(a="1")}) == ""


def test_alertmanager_string_functions():
    assert render_data('{{ toUpper "ab" }} {{ toLower "AB" }} {{ title "disk full" }}', {}) == "AB ab Disk Full"
    assert render_data('{{ join "-" (stringSlice "a" "b" "c") }} [{{ trimSpace "  x \\n" }}]', {}) == "a-b-c [x]"
    assert render_data('{{ match "^web-" "web-1" }} {{ reReplaceAll "(\\\\w+)-(\\\\d)" "$2:$1" "web-1" }}', {}) == "true 1:web"
    assert render_data('{{ safeHtml "<b>" }} {{ html "<b>" }} {{ js "a\'<" }} {{ urlquery "a b&c" }}', {}) == "<b> &lt;b&gt; a\\'\\u003C a+b%26c"
    assert render_data('{{ slice "abcdef" 2 }} {{ index (stringSlice "x" "y") 1 }} {{ printf "%s=%d" "n" 3 }}', {}) == "cdef y n=3"
    assert render_data('{{ print 1 2 }} {{ println "a" }}', {}) == "1 2 a\n"
    assert render_data('{{ and 1 0 }} {{ or 0 "x" }} {{ not false }} {{ lt 1 2 }} {{ eq "a" "b" "a" }}', {}) == "0 x true true true"


def test_date_tz_since_and_humanize_duration():
    data = {"t": "2023-11-14T22:13:20Z"}
    assert render_data('{{ .t | date "2006-01-02 15:04:05 MST" }}', data) == "2023-11-14 22:13:20 UTC"
    assert render_data('{{ .t | tz "Europe/Paris" | date "Mon Jan _2 3:04PM -07:00" }}', data) == "Tue Nov 14 11:13PM +01:00"
    assert render_data('{{ .t | since }}', data, now=T0 + 3723.5) == "1h2m3.5s"
    assert render_data('{{ .t | since | humanizeDuration }}', data, now=T0 + 90) == "1m 30s"
    with pytest.raises(TemplateError, match="since is not available"):
        render_data("{{ since .t }}", data)
    with pytest.raises(TemplateError, match="unknown time zone"):
        render_data('{{ tz "Mars/Olympus" .t }}', data)
    assert str(GoDuration(0.0015)) == "1.5ms"


def _notice() -> Notice:
    alerts = [NoticeAlert(status="firing", labels={"alertname": "DiskFull", "instance": f"db{i}", "severity": "page"},
                          annotations={"summary": "disk full"}, starts_at=T0, ends_at=None, generator_url="", fingerprint=f"f{i}")
              for i in (1, 2)]
    return Notice.build(receiver="ops", group_key="g", group_labels={"alertname": "DiskFull"}, alerts=alerts, created_at=T0 + 60)


def test_notice_data_is_alertmanagers_model_and_hides_the_notice():
    n = _notice()
    data = notify_templates.notice_data(n)
    assert render_data("{{ len .Alerts.Firing }} {{ .CommonAnnotations.summary }} {{ .GroupLabels.SortedPairs.Values }}", data) == "2 disk full [DiskFull]"
    assert render_data("{{ .notice }}", data) == "<no value>"   # the Python attribute is not a key
    assert notify_templates.render("{{ range .Alerts }}{{ .StartsAt | since }} {{ end }}", n) == "1m0s 1m0s "


def test_default_names_render_like_our_defaults_and_like_alertmanager_otherwise():
    n = _notice()
    tset = notify_templates.default_template_set()
    data = notify_templates.notice_data(n)
    assert tset.render('{{ template "__subject" . }}', data) == notify_templates.subject(n) == "[FIRING:2] DiskFull (page)"
    assert tset.render('{{ template "slack.default.text" . }}', data) == notify_templates.slack_text(n)
    assert "<h2" in tset.render('{{ template "email.default.html" . }}', data)
    # a plain map (not a notice): Alertmanager's own definition runs
    plain = {"Status": "firing", "Alerts": AlertList([{"Status": "firing"}]), "GroupLabels": KV(alertname="X"),
             "CommonLabels": KV(alertname="X", job="j"), "Receiver": "r x", "ExternalURL": "http://am"}
    assert tset.render('{{ template "__subject" . }}', plain) == "[FIRING:1] X (j)"
    assert tset.render('{{ template "slack.default.titlelink" . }}', plain) == "http://am/#/alerts?receiver=r+x"
