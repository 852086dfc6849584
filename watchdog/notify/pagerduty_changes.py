"""PagerDuty Change Events (`POST /v2/change/enqueue`): deploys shown next to incidents.

A change recorded through `POST /api/v1/changes` or `watchdog change record`
is forwarded here when `change_events.pagerduty` is configured, so a responder
opening an incident sees "demo v42 deployed 3 min ago" on the service. The
body is PagerDuty's documented shape: `routing_key`, `payload {summary,
timestamp, source, custom_details}`, `links`. The routing key is a secret: it
is read (from the config or its file, at every send so a rotated file is
picked up) only into the request body and never into an error message.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Mapping

from watchdog.clock import Clock
from watchdog.notify.base import PermanentError, RetryableError, rfc3339
from watchdog.notify.httpclient import JsonPoster, secret_text

DEFAULT_CHANGE_URL = "https://events.pagerduty.com/v2/change/enqueue"
SUMMARY_MAX = 1024
LINK_TEXT = "Change"


def change_summary(change: Mapping[str, Any]) -> str:
    """`demo v42 deployed (was v41)`: what PagerDuty shows in the change list."""
    service, version = str(change.get("service", "")), str(change.get("version", ""))
    previous = str(change.get("previous_version") or "")
    text = f"{service} {version} deployed" + (f" (was {previous})" if previous else "")
    return text if len(text) <= SUMMARY_MAX else text[: SUMMARY_MAX - 1] + "…"


def change_event_body(change: Mapping[str, Any], *, routing_key: str, source: str) -> dict[str, Any]:
    """The Change Events body for a change as `watchdog.remediate.changes.change_json` gives it."""
    details: dict[str, Any] = {k: change.get(k) for k in ("service", "version", "previous_version", "created_by", "id")
                               if change.get(k) not in (None, "")}
    labels = change.get("labels") or {}
    if labels:
        details["labels"] = dict(labels)
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "payload": {
            "summary": change_summary(change),
            "timestamp": rfc3339(float(change.get("time") or 0.0)),
            "source": source,
            "custom_details": details,
        },
    }
    link = str(change.get("link") or "")
    if link:
        body["links"] = [{"href": link, "text": LINK_TEXT}]
    return body


class PagerdutyChangeSender:
    """Sends change events; `send` raises RetryableError (try again later) or PermanentError (drop it)."""

    def __init__(self, cfg: Any, *, clock: Clock) -> None:
        self._cfg = cfg
        self._url = getattr(cfg, "url", None) or DEFAULT_CHANGE_URL
        self._source = getattr(cfg, "source", "") or "watchdog-daemon"
        self._poster = JsonPoster(owner="change_events.pagerduty", timeout=float(getattr(cfg, "timeout", 0) or 0), clock=clock)

    def __repr__(self) -> str:
        return "PagerdutyChangeSender()"

    def _routing_key(self) -> str:
        key = secret_text(getattr(self._cfg, "routing_key", None))
        path = getattr(self._cfg, "routing_key_file", None)
        if not key and path:
            try:
                key = Path(path).read_text().strip()
            except OSError as e:
                raise RetryableError(f"pagerduty change events: cannot read routing_key_file: {e.strerror or type(e).__name__}",
                                     reason="config") from None
        if not key:
            raise PermanentError("pagerduty change events: no routing key configured", reason="config")
        return key

    async def send(self, change: Mapping[str, Any]) -> None:
        answer = await self._poster.post(self._url, change_event_body(change, routing_key=self._routing_key(), source=self._source),
                                         what="pagerduty change event")
        if answer.status == 400:
            data = answer.json() or {}
            errors = "; ".join(str(e) for e in data.get("errors", []) if isinstance(e, str))[:200] if isinstance(data, dict) else ""
            raise PermanentError(f"pagerduty rejected the change event (400){': ' + errors if errors else ''}", reason="client_error")
        if answer.status in (401, 403, 404):
            raise PermanentError(f"pagerduty answered {answer.status} to a change event (check the routing key and url)",
                                 reason="client_error")
        self._poster.raise_for(answer, self._url, "pagerduty change event")

    async def close(self) -> None:
        await self._poster.close()
