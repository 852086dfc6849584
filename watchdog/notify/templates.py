"""Message content for the channels: Alertmanager-style template data and our defaults.

Operators may set message fields (`title`, `text`, `description`, `html`,
...) as templates in the rules' template language (watchdog.promql.template:
the same safe Go-template interpreter). The dot is Alertmanager's notification
data: `.Status`, `.Receiver`, `.GroupLabels`, `.CommonLabels`,
`.CommonAnnotations`, `.ExternalURL`, `.GroupKey`, `.Alerts` (each with
`.Status`, `.Labels`, `.Annotations`, `.StartsAt`, `.EndsAt`, `.GeneratorURL`,
`.Fingerprint`), plus `.Firing` and `.Resolved` (Alertmanager's
`.Alerts.Firing` / `.Alerts.Resolved`, which our interpreter spells as fields).

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

log = logging.getLogger("watchdog.notify")

_warned: set[str] = set()


def _alert_data(a: NoticeAlert) -> dict[str, Any]:
    return {
        "Status": a.status, "Labels": dict(a.labels), "Annotations": dict(a.annotations),
        "StartsAt": rfc3339(a.starts_at), "EndsAt": rfc3339(a.ends_at),
        "GeneratorURL": a.generator_url, "Fingerprint": a.fingerprint,
    }


def notice_data(notice: Notice) -> dict[str, Any]:
    """Alertmanager's template data for one notice."""
    alerts = [_alert_data(a) for a in notice.alerts]
    return {
        "Receiver": notice.receiver, "Status": notice.status, "GroupKey": notice.group_key,
        "GroupLabels": dict(notice.group_labels), "CommonLabels": dict(notice.common_labels),
        "CommonAnnotations": dict(notice.common_annotations), "ExternalURL": notice.external_url,
        "Alerts": alerts, "Firing": [a for a in alerts if a["Status"] == "firing"],
        "Resolved": [a for a in alerts if a["Status"] != "firing"], "TruncatedAlerts": notice.truncated,
    }


def check_template(text: str, name: str = "template") -> str | None:
    """A parse error message, or None when `text` is a valid template (load-time check)."""
    try:
        tmpl.check(text, name=name)
    except tmpl.TemplateError as e:
        return str(e)
    return None


def render(text: str, notice: Notice, *, default: str = "", name: str = "template") -> str:
    """Expand `text` over the notice's data; empty `text` or a failing template gives `default`."""
    if not text:
        return default
    if "{{" not in text:
        return text
    try:
        return tmpl.render_data(text, notice_data(notice), name=name)
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
