"""Notices and receiver configs for the channel tests (real models, real notices)."""

from __future__ import annotations

from typing import Any

from watchdog.alerting.config import AlertingConfig
from watchdog.notify.base import Notice, NoticeAlert

T0 = 1_700_000_000.0


def alert(name: str = "DemoDown", status: str = "firing", *, instance: str = "demo:80", severity: str = "critical",
          summary: str = "demo is down", start: float = T0, end: float | None = None, **labels: str) -> NoticeAlert:
    return NoticeAlert(
        status=status, labels={"alertname": name, "instance": instance, "severity": severity, **labels},
        annotations={"summary": summary, "runbook_url": "https://runbooks.example/demo"},
        starts_at=start, ends_at=end if status != "firing" else None,
        generator_url="http://prom/graph", fingerprint=f"fp-{name}-{instance}",
    )


def notice(*alerts: NoticeAlert, receiver: str = "oncall", group: str = '{}:{alertname="DemoDown"}', **kw: Any) -> Notice:
    alerts = alerts or (alert(),)
    return Notice.build(receiver=receiver, group_key=group, group_labels={"alertname": alerts[0].labels["alertname"]},
                        alerts=list(alerts), external_url="http://watchdog.example:9797", created_at=T0, **kw)


def receiver_cfg(**configs: Any) -> Any:
    """A validated Receiver named `oncall` with the given `<kind>_configs` lists."""
    am = AlertingConfig.model_validate({"route": {"receiver": "oncall"}, "receivers": [{"name": "oncall", **configs}]})
    return am.receivers[0]
