"""Message content for the channels: Alertmanager-style template data and our defaults.

Operators may set message fields (`title`, `text`, `description`, `html`,
...) as templates in the rules' template language (watchdog.promql.template:
the same safe Go-template interpreter). The dot is Alertmanager's notification
data: `.Status`, `.Receiver`, `.GroupLabels`, `.CommonLabels`,
`.CommonAnnotations`, `.ExternalURL`, `.GroupKey`, `.Alerts` (each with
`.Status`, `.Labels`, `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`,
`.Fingerprint`); `.Alerts.Firing` / `.Alerts.Resolved` and the label maps'
`.SortedPairs` / `.Names` / `.Values` / `.Remove` are Alertmanager's methods
(`.Firing` / `.Resolved` at the top level stay for older configs).

Named templates: Alertmanager's `templates:` files are parsed once at config
load into a TemplateSet (`template_set_from_files`) on top of our defaults
(`default_template_set`: Alertmanager's default names, `__subject`,
`slack.default.title`, `email.default.html`, ..., with output equivalent to our
default messages). The set travels explicitly: LoadedConfig.notification_templates ->
Dispatcher -> the integrations the registry builds -> `render(..., templates=...)`; so
`title: '{{ template "slack.default.title" . }}'` works, and a config that loaded but
was never swapped in (a failed reload, `watchdog check`) changes nobody's rendering.
There is no mutable module state: without a set, fields render with DEFAULT_TEMPLATES.

A template that fails at send time must not lose the page: the default text is
used instead and the failure is logged once per template.
"""

from __future__ import annotations

import logging
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

from watchdog.notify.base import Notice, NoticeAlert, rfc3339
from watchdog.promql import template as tmpl
from watchdog.promql.template_format import KV, AlertList
from watchdog.promql.template_set import TemplateSet

log = logging.getLogger("watchdog.notify")

_warned: set[str] = set()


class NoticeData(dict):  # type: ignore[type-arg]
    """The template dot for a notice. `.notice` (a Python attribute, not a key) is out of a
    template's reach: only our built-in default templates use it, to match our defaults."""

    notice: Notice


def _alert_data(a: NoticeAlert) -> dict[str, Any]:
    return {
        "Status": a.status, "Labels": KV(a.labels), "Annotations": KV(a.annotations),
        "StartsAt": rfc3339(a.starts_at), "EndsAt": rfc3339(a.ends_at),
        "GeneratorURL": a.generator_url, "Fingerprint": a.fingerprint,
    }


def notice_data(notice: Notice) -> NoticeData:
    """Alertmanager's template data for one notice."""
    alerts = AlertList(_alert_data(a) for a in notice.alerts)
    data = NoticeData({
        "Receiver": notice.receiver, "Status": notice.status, "GroupKey": notice.group_key,
        "GroupLabels": KV(notice.group_labels), "CommonLabels": KV(notice.common_labels),
        "CommonAnnotations": KV(notice.common_annotations), "ExternalURL": notice.external_url,
        "Alerts": alerts, "Firing": alerts.Firing(),
        "Resolved": AlertList(a for a in alerts if a["Status"] != "firing"), "TruncatedAlerts": notice.truncated,
    })
    data.notice = notice
    return data


def check_template(text: str, name: str = "template") -> str | None:
    """A parse error message, or None when `text` is a valid template (load-time check)."""
    try:
        tmpl.check(text, name=name, named_templates=True)
    except tmpl.TemplateError as e:
        return str(e)
    return None


def render(text: str, notice: Notice, *, default: str = "", name: str = "template",
           templates: TemplateSet | None = None) -> str:
    """Expand `text` over the notice's data with `templates` (None: DEFAULT_TEMPLATES); empty
    `text` or a failing template gives `default`."""
    if not text:
        return default
    if "{{" not in text:
        return text
    try:
        # `since` measures against the notice's creation time: templates never read the clock
        return (templates or DEFAULT_TEMPLATES).render(text, notice_data(notice), name=name, now=notice.created_at or None)
    except tmpl.TemplateError as e:
        if text not in _warned:
            _warned.add(text)
            log.warning("receiver %s: template %s failed, using the default text: %s", notice.receiver, name, e)
        return default


# -- defaults ---------------------------------------------------------------------------


def subject(notice: Notice) -> str:
    """Alertmanager's default subject: `[FIRING:2] group values (other common label values)`."""
    head = f"[FIRING:{len(notice.firing())}]" if notice.status == "firing" else "[RESOLVED]"
    parts = [head]
    values = [v for _, v in sorted(notice.group_labels.items())]
    if values:
        parts.append(" ".join(values))
    extra = [v for k, v in sorted(notice.common_labels.items()) if k not in notice.group_labels]
    if extra:
        parts.append("(" + " ".join(extra) + ")")
    return " ".join(parts)


def clock_text(t: float | None) -> str:
    if t is None:
        return "-"
    return datetime.fromtimestamp(t, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def group_id(notice: Notice) -> str:
    """The id the API uses for the group (and what acks name)."""
    return notice.dedup_key


def status_url(notice: Notice) -> str:
    """Our status page for this group, or "" without api.external_url."""
    base = notice.external_url.rstrip("/")
    return f"{base}/api/v1/groups?id={quote(group_id(notice))}" if base else ""


def runbook_url(notice: Notice) -> str:
    for key in ("runbook_url", "runbook"):
        value = notice.common_annotations.get(key) or next((a.annotations.get(key) for a in notice.alerts if a.annotations.get(key)), "")
        if value:
            return value
    return ""


def severity(notice: Notice) -> str:
    return notice.common_labels.get("severity") or next((a.labels.get("severity", "") for a in notice.alerts if a.labels.get("severity")), "")


REMEDIATION_OUTPUT_LINES = 8      # the tail of an action's output shown in a message


def alert_line(a: NoticeAlert) -> str:
    """One alert in plain text: summary, then fired/resolved times (both when it is over),
    then what remediation did about it ("remediated by X after N s"), if anything."""
    summary = a.annotations.get("summary") or a.annotations.get("description") or a.labels.get("alertname", "alert")
    when = f"since {clock_text(a.starts_at)}" if a.status == "firing" else f"fired {clock_text(a.starts_at)}, resolved {clock_text(a.ends_at)}"
    note = " ".join(a.annotations.get("remediation", "").split())
    return f"{summary} ({when})" + (f" — {note}" if note else "")


def remediation_output(a: NoticeAlert, lines: int = REMEDIATION_OUTPUT_LINES) -> str:
    """The last lines of a failed remediation's output (`remediation_output` annotation), or ""."""
    text = a.annotations.get("remediation_output", "")
    return "\n".join(text.rstrip("\n").splitlines()[-lines:]) if text.strip() else ""


def plain_text(notice: Notice) -> str:
    """The default body: what is firing, what resolved, the labels, the links."""
    lines = [subject(notice)]
    if notice.reason:
        lines.append(f"Note: {notice.reason}")
    for title, alerts in (("Firing", notice.firing()), ("Resolved", notice.resolved())):
        if not alerts:
            continue
        lines.append("")
        lines.append(f"{title}:")
        for a in alerts:
            lines.append(f"- {alert_line(a)}")
            lines.append("  " + " ".join(f"{k}={v}" for k, v in sorted(a.labels.items())))
            output = remediation_output(a)
            if output:
                lines.append("  remediation output:")
                lines += ["    " + line for line in output.splitlines()]
    if notice.truncated:
        lines.append(f"... and {notice.truncated} more alert(s)")
    links = [(name, url) for name, url in (("Status", status_url(notice)), ("Runbook", runbook_url(notice))) if url]
    if links:
        lines.append("")
        lines += [f"{name}: {url}" for name, url in links]
    return "\n".join(lines)


# -- named templates ----------------------------------------------------------------------

# Alertmanager's default names, as its default.tmpl defines them. Those that have a default
# message of ours are computed natively from the notice (so `{{ template "slack.default.title" . }}`
# reads exactly like an unset title); the Go text below runs for any other dot.
_AM_DEFAULTS = """
{{ define "__alertmanager" }}Alertmanager{{ end }}
{{ define "__alertmanagerURL" }}{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}{{ end }}
{{ define "__subject" }}[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] {{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}{{ end }}
{{ define "__description" }}{{ end }}
{{ define "__text_alert_list" }}{{ range . }}Labels:
{{ range .Labels.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Annotations:
{{ range .Annotations.SortedPairs }} - {{ .Name }} = {{ .Value }}
{{ end }}Source: {{ .GeneratorURL }}
{{ end }}{{ end }}
{{ define "__text_alert_list_markdown" }}{{ range . }}
Labels:
{{ range .Labels.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Annotations:
{{ range .Annotations.SortedPairs }}  - {{ .Name }} = {{ .Value }}
{{ end }}
Source: {{ .GeneratorURL }}
{{ end }}
{{ end }}
{{ define "slack.default.title" }}{{ template "__subject" . }}{{ end }}
{{ define "slack.default.username" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "slack.default.fallback" }}{{ template "slack.default.title" . }} | {{ template "slack.default.titlelink" . }}{{ end }}
{{ define "slack.default.callbackid" }}{{ end }}
{{ define "slack.default.pretext" }}{{ end }}
{{ define "slack.default.titlelink" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "slack.default.iconemoji" }}{{ end }}
{{ define "slack.default.iconurl" }}{{ end }}
{{ define "slack.default.footer" }}{{ end }}
{{ define "pagerduty.default.client" }}{{ template "__alertmanager" . }}{{ end }}
{{ define "pagerduty.default.clientURL" }}{{ template "__alertmanagerURL" . }}{{ end }}
{{ define "pagerduty.default.instances" }}{{ template "__text_alert_list" . }}{{ end }}
{{ define "webhook.default.message" }}{{ template "__subject" . }}{{ end }}
{{ define "opsgenie.default.message" }}{{ template "__subject" . }}{{ end }}
{{ define "opsgenie.default.description" }}{{ .CommonAnnotations.SortedPairs.Values | join " " }}
{{ if gt (len .Alerts.Firing) 0 -}}
Alerts Firing:
{{ template "__text_alert_list" .Alerts.Firing }}
{{- end }}
{{ if gt (len .Alerts.Resolved) 0 -}}
Alerts Resolved:
{{ template "__text_alert_list" .Alerts.Resolved }}
{{- end }}
{{- end }}
"""

# Go text for the natively computed names when the dot is not a notice
_SUBJECT = '{{ template "__subject" . }}'
_TEXT_LIST = '{{ if .Alerts.Firing }}Firing:\n{{ template "__text_alert_list" .Alerts.Firing }}{{ end }}' \
             '{{ if .Alerts.Resolved }}Resolved:\n{{ template "__text_alert_list" .Alerts.Resolved }}{{ end }}'


def _native(compute: Any) -> Any:
    """A native template body: `compute(notice)` when the dot is a notice's data, else None."""
    return lambda dot: compute(dot.notice) if isinstance(dot, NoticeData) else None


def slack_text(notice: Notice) -> str:
    """Our Slack body without the severity/remediation extras: one bullet per alert."""
    lines = []
    for heading, alerts in (("Firing", notice.firing()), ("Resolved", notice.resolved())):
        if alerts:
            lines.append(f"*{heading}:*")
            lines += [f"• {alert_line(a)}" for a in alerts]
    return "\n".join(lines)


def _email_html(notice: Notice) -> str:
    from watchdog.notify.email import html_body   # email imports this module

    return html_body(notice)


def default_template_set() -> TemplateSet:
    """Alertmanager's default template names, equivalent to our default messages."""
    tset = TemplateSet().with_text(_AM_DEFAULTS, "default.tmpl")
    natives: list[tuple[str, Any, str]] = [
        ("__alertmanager", lambda n: "watchdog-daemon", "Alertmanager"),
        ("__alertmanagerURL", status_url, "{{ .ExternalURL }}/#/alerts?receiver={{ .Receiver | urlquery }}"),
        ("__subject", subject, '[{{ .Status | toUpper }}{{ if eq .Status "firing" }}:{{ .Alerts.Firing | len }}{{ end }}] '
         '{{ .GroupLabels.SortedPairs.Values | join " " }} {{ if gt (len .CommonLabels) (len .GroupLabels) }}'
         '({{ with .CommonLabels.Remove .GroupLabels.Names }}{{ .Values | join " " }}{{ end }}){{ end }}'),
        ("slack.default.title", subject, _SUBJECT),
        ("slack.default.fallback", subject, _SUBJECT),
        ("slack.default.text", slack_text, _TEXT_LIST),
        ("email.default.subject", subject, _SUBJECT),
        ("email.default.text", plain_text, _SUBJECT + "\n\n" + _TEXT_LIST),
        ("email.default.html", _email_html, "<html><body><h2>" + _SUBJECT + "</h2><pre>" + _TEXT_LIST + "</pre></body></html>"),
        ("pagerduty.default.description", subject, _SUBJECT),
    ]
    for name, compute, fallback in natives:
        tset = tset.with_native(name, _native(compute), fallback)
    return tset


# never mutated: a config's own set is built on top of it (`with_*` return new sets)
DEFAULT_TEMPLATES: TemplateSet = default_template_set()


def template_set_from_files(files: list[tuple[str, str]]) -> TemplateSet:
    """Our defaults plus each (path, text) file in order (later definitions win);
    raises TemplateError (`.line`/`.col` set when located) for a file that does not parse."""
    tset = DEFAULT_TEMPLATES
    for path, text in files:
        tset = tset.with_text(text, path)
    return tset
