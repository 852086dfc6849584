"""`pagerduty_configs`: PagerDuty Events API v2 (trigger, acknowledge, resolve).

`dedup_key` is the SHA-256 of the group key (Notice.dedup_key), so a restart,
a reload or a standby replica re-sending the same group never opens a second
incident; the outbox may pin the key a firing notice used (`dedup_key`
override in the notice) so the resolve closes that same incident even after a
reload changed the route tree. Severity comes from the `severity` label unless
configured; the summary is cut to PagerDuty's 1024 characters.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

from watchdog.clock import Clock
from watchdog.notify import templates
from watchdog.notify.base import Notice, PermanentError, RetryableError, rfc3339
from watchdog.notify.httpclient import JsonPoster, secret_text
from watchdog.promql.template_set import TemplateSet

DEFAULT_URL = "https://events.pagerduty.com/v2/enqueue"
SUMMARY_MAX = 1024
_SEVERITY_ALIASES = {
    "critical": "critical", "page": "critical", "emergency": "critical", "fatal": "critical", "disaster": "critical",
    "error": "error", "high": "error", "major": "error", "severe": "error",
    "warning": "warning", "warn": "warning", "medium": "warning", "minor": "warning",
    "info": "info", "low": "info", "none": "info", "notice": "info", "informational": "info", "debug": "info",
}


def map_severity(value: str) -> str:
    """A label value to PagerDuty's four severities; unknown values page (`critical`, Alertmanager's default)."""
    return _SEVERITY_ALIASES.get(value.strip().lower(), "critical")


def truncate(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def event_action(notice: Notice) -> str:
    if notice.status != "firing":
        return "resolve"
    return "acknowledge" if notice.acknowledged else "trigger"


class PagerdutyNotifier:
    integration = "pagerduty"

    def __init__(self, cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> None:
        self.receiver = receiver
        self._templates = templates
        self.send_resolved = bool(getattr(cfg, "send_resolved", True))
        self._cfg = cfg
        self._url = getattr(cfg, "url", None) or DEFAULT_URL
        self._poster = JsonPoster(owner=f"receiver {receiver} pagerduty", http=getattr(cfg, "http_config", None),
                                  timeout=float(getattr(cfg, "timeout", 0) or 0), clock=clock)

    def __repr__(self) -> str:
        return f"PagerdutyNotifier(receiver={self.receiver!r})"

    @property
    def rate_key(self) -> str:
        """PagerDuty rate-limits per routing key: integrations sharing one share its budget (a hash, not the key)."""
        key = secret_text(getattr(self._cfg, "routing_key", None)) or secret_text(getattr(self._cfg, "service_key", None)) or ""
        return "pagerduty:" + hashlib.sha256(f"{self._url}\0{key}".encode()).hexdigest()[:32] if key else ""

    def _routing_key(self) -> str:
        key = secret_text(getattr(self._cfg, "routing_key", None)) or secret_text(getattr(self._cfg, "service_key", None))
        if not key:
            raise PermanentError("pagerduty: no routing key configured", reason="config")
        return key

    def event(self, notice: Notice) -> dict[str, Any]:
        """The Events API v2 body for this notice."""
        cfg = self._cfg
        render = functools.partial(templates.render, templates=self._templates)
        action = event_action(notice)
        body: dict[str, Any] = {
            "routing_key": self._routing_key(),
            "event_action": action,
            "dedup_key": notice.dedup_key,
        }
        if action != "trigger":
            return body   # acknowledge and resolve carry only the key (PagerDuty ignores a payload there)
        default_summary = templates.subject(notice)
        summary = render(getattr(cfg, "description", ""), notice, default=default_summary, name="description")
        label_severity = templates.severity(notice)
        severity_text = render(getattr(cfg, "severity", ""), notice, default=label_severity, name="severity")
        details = {k: render(v, notice, name=f"details.{k}") for k, v in (getattr(cfg, "details", None) or {}).items()}
        if not details:
            details = {
                "firing": "\n".join(templates.alert_line(a) for a in notice.firing()),
                "resolved": "\n".join(templates.alert_line(a) for a in notice.resolved()),
                "num_firing": len(notice.firing()),
                "num_resolved": len(notice.resolved()),
                "labels": dict(notice.common_labels),
            }
            if notice.reason:
                details["note"] = notice.reason
            outputs = {a.labels.get("alertname", "alert"): templates.remediation_output(a) for a in notice.alerts}
            outputs = {name: out for name, out in outputs.items() if out}
            if outputs:
                details["remediation_output"] = outputs
        payload: dict[str, Any] = {
            "summary": truncate(summary, SUMMARY_MAX),
            "source": render(getattr(cfg, "source", ""), notice, default=notice.common_labels.get("instance", "") or "watchdog-daemon", name="source"),
            "severity": map_severity(severity_text) if severity_text else "critical",
            "timestamp": rfc3339(min((a.starts_at for a in notice.firing()), default=notice.created_at or None)),
            "custom_details": details,
        }
        for key, attr in (("component", "component"), ("group", "group"), ("class", "class_")):
            value = render(getattr(cfg, attr, ""), notice, name=key)
            if value:
                payload[key] = value
        body["payload"] = payload
        body["client"] = render(getattr(cfg, "client", ""), notice, default="watchdog-daemon", name="client")
        client_url = render(getattr(cfg, "client_url", ""), notice, default=templates.status_url(notice), name="client_url")
        if client_url:
            body["client_url"] = client_url
        links = [{"href": render(link.href, notice, name="links.href"), "text": render(link.text, notice, name="links.text")}
                 for link in getattr(cfg, "links", None) or []]
        for text, href in (("Status", templates.status_url(notice)), ("Runbook", templates.runbook_url(notice))):
            if href and not any(link["href"] == href for link in links):
                links.append({"href": href, "text": text})
        if links:
            body["links"] = links
        images = [{"src": render(i.src, notice, name="images.src"), "alt": i.alt, "href": i.href} for i in getattr(cfg, "images", None) or []]
        if images:
            body["images"] = images
        return body

    async def send(self, notice: Notice) -> None:
        answer = await self._poster.post(self._url, self.event(notice), what="pagerduty")
        if answer.status == 400:
            data = answer.json() or {}
            errors = "; ".join(str(e) for e in data.get("errors", []) if isinstance(e, str))[:200]
            raise PermanentError(f"pagerduty rejected the event (400 invalid event){': ' + errors if errors else ''}", reason="client_error")
        if answer.status in (401, 403, 404):
            raise PermanentError(f"pagerduty answered {answer.status} (check the routing key and url)", reason="client_error")
        self._poster.raise_for(answer, self._url, "pagerduty")
        data = answer.json()
        if isinstance(data, dict) and data.get("status") not in (None, "success"):
            raise RetryableError(f"pagerduty answered status {str(data.get('status'))[:50]!r}", reason="server_error")

    async def close(self) -> None:
        await self._poster.close()


def pagerduty_factory(cfg: Any, *, receiver: str, clock: Clock, templates: TemplateSet | None = None) -> PagerdutyNotifier:
    return PagerdutyNotifier(cfg, receiver=receiver, clock=clock, templates=templates)
