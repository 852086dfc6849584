"""`alertmanager_configs` (our extension): forward alerts to an existing Alertmanager cluster.

POSTs Alertmanager's v2 alert list (`/api/v2/alerts`) to every peer listed,
as Prometheus does; the cluster deduplicates among its peers. The notice
counts as delivered when at least one peer accepted it: that peer gossips it
to the others. Firing alerts carry no `endsAt` (the remote resolve_timeout
applies until our next repeat), resolved ones carry the time they resolved.
"""

from __future__ import annotations

from typing import Any

from watchdog.clock import Clock
from watchdog.notify.base import Notice, NoticeAlert, NotifyError, PermanentError, RetryableError, rfc3339
from watchdog.notify.httpclient import JsonPoster


def alert_body(a: NoticeAlert) -> dict[str, Any]:
    body: dict[str, Any] = {
        "labels": dict(a.labels),
        "annotations": dict(a.annotations),
        "startsAt": rfc3339(a.starts_at),
        "generatorURL": a.generator_url,
    }
    if a.status != "firing" and a.ends_at is not None:
        body["endsAt"] = rfc3339(a.ends_at)
    return body


def alerts_url(base: str) -> str:
    base = base.rstrip("/")
    return base if base.endswith("/api/v2/alerts") else base + "/api/v2/alerts"


class AlertmanagerNotifier:
    integration = "alertmanager"

    def __init__(self, cfg: Any, *, receiver: str, clock: Clock) -> None:
        self.receiver = receiver
        self.send_resolved = bool(getattr(cfg, "send_resolved", True))
        self._urls = [alerts_url(u) for u in cfg.urls]
        self._poster = JsonPoster(owner=f"receiver {receiver} alertmanager", http=getattr(cfg, "http_config", None),
                                  timeout=float(getattr(cfg, "timeout", 0) or 0), clock=clock)

    def __repr__(self) -> str:
        return f"AlertmanagerNotifier(receiver={self.receiver!r})"

    async def send(self, notice: Notice) -> None:
        body = [alert_body(a) for a in notice.alerts]
        errors: list[NotifyError] = []
        for url in self._urls:
            try:
                answer = await self._poster.post(url, body, what="alertmanager")
                self._poster.raise_for(answer, url, "alertmanager")
                return
            except NotifyError as e:
                errors.append(e)
        if all(isinstance(e, PermanentError) for e in errors):
            raise PermanentError("; ".join(e.message for e in errors), reason=errors[0].reason)
        retry_after = [getattr(e, "retry_after", None) for e in errors]
        waits = [r for r in retry_after if r is not None]
        raise RetryableError("; ".join(e.message for e in errors), max(waits) if waits else None,
                             reason=next(e.reason for e in errors if isinstance(e, RetryableError)))

    async def close(self) -> None:
        await self._poster.close()


def alertmanager_factory(cfg: Any, *, receiver: str, clock: Clock, templates: Any = None) -> AlertmanagerNotifier:
    # `templates` is unused: alerts are forwarded as they are
    return AlertmanagerNotifier(cfg, receiver=receiver, clock=clock)
