"""Notice formats: the Alertmanager webhook v4 JSON (golden), the log line, helpers."""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path

import pytest

from watchdog.model import Alert, AlertState, Labels
from watchdog.notify.base import Notice, NoticeAlert, rfc3339
from watchdog.notify.log import LogNotifier, notice_line
from watchdog.notify.registry import build_integrations
from watchdog.notify.webhook import parse_retry_after, redact_url, webhook_body
from watchdog.alerting.config import Receiver

GOLDEN = Path(__file__).parent / "golden"
T0 = 1_700_000_000.0


def sample_notice() -> Notice:
    down = Alert(labels=Labels.of(alertname="DemoServiceDown", target="demo", service="demo", severity="critical"),
                 annotations={"summary": "demo is down", "description": "probe failed"},
                 state=AlertState.FIRING, active_at=T0 - 60, fired_at=T0, generator_url="http://127.0.0.1:9797/rules#demo")
    gone = Alert(labels=Labels.of(alertname="DemoServiceDown", target="demo2", service="demo", severity="critical"),
                 annotations={"summary": "demo is down"},
                 state=AlertState.RESOLVED, active_at=T0 - 600, fired_at=T0 - 540.25, resolved_at=T0 + 12.5)
    return Notice.build(
        receiver="oncall", group_key='{}:{alertname="DemoServiceDown"}', group_labels={"alertname": "DemoServiceDown"},
        alerts=[NoticeAlert.from_alert(down, True), NoticeAlert.from_alert(gone, False)],
        external_url="http://127.0.0.1:9797", created_at=T0 + 30,
    )


def test_webhook_v4_golden():
    body = webhook_body(sample_notice())
    golden = json.loads((GOLDEN / "webhook_v4.json").read_text())
    assert body == golden
    assert list(body) == list(golden)


def test_webhook_max_alerts_truncates():
    body = webhook_body(sample_notice(), max_alerts=1)
    assert len(body["alerts"]) == 1 and body["truncatedAlerts"] == 1
    assert webhook_body(sample_notice(), max_alerts=5)["truncatedAlerts"] == 0


def test_notice_round_trips_through_outbox_payload():
    n = sample_notice()
    again = Notice.from_dict(json.loads(json.dumps(n.to_dict())))
    assert again == n
    assert n.dedup_key == hashlib.sha256(n.group_key.encode()).hexdigest()
    assert n.status == "firing" and n.common_labels == {"alertname": "DemoServiceDown", "service": "demo", "severity": "critical"}
    assert n.common_annotations == {"summary": "demo is down"}


def test_rfc3339_like_go():
    assert rfc3339(None) == "0001-01-01T00:00:00Z"
    assert rfc3339(T0) == "2023-11-14T22:13:20Z"
    assert rfc3339(T0 + 0.25) == "2023-11-14T22:13:20.25Z"


def test_log_line_is_human_readable():
    line = notice_line(sample_notice())
    assert line.startswith("[FIRING:1] DemoServiceDown (service=demo severity=critical) receiver=oncall")
    assert 'summary="demo is down"' in line and "resolved=1" in line
    resolved = Notice.build(receiver="r", group_key="k", group_labels={"alertname": "X"},
                            alerts=[NoticeAlert("resolved", {"alertname": "X", "target": 'a "b"'}, {}, T0, T0 + 1, "", "f")])
    assert notice_line(resolved) == '[RESOLVED] X (target="a \\"b\\"") receiver=r'


async def test_log_notifier_writes_one_structured_line(caplog):
    caplog.set_level(logging.INFO, logger="watchdog.notify")
    await LogNotifier(receiver="oncall", level="warning").send(sample_notice())
    records = [r for r in caplog.records if r.name == "watchdog.notify"]
    assert len(records) == 1 and records[0].levelno == logging.WARNING
    assert records[0].getMessage().startswith("[FIRING:1] DemoServiceDown")
    assert records[0].notice["group_key"] == '{}:{alertname="DemoServiceDown"}'


def test_registry_builds_integrations_in_order():
    receiver = Receiver.model_validate({"name": "oncall", "webhook_configs": [{"url": "http://h/1"}, {"url": "http://h/2", "send_resolved": False}],
                                        "log_configs": [{}]})
    from watchdog.clock import SYSTEM_CLOCK
    integrations = build_integrations(receiver, clock=SYSTEM_CLOCK)
    assert [(i.key, i.send_resolved) for i in integrations] == [("oncall/webhook/0", True), ("oncall/webhook/1", False), ("oncall/log/0", True)]
    assert "h/1" not in repr(integrations[0].notifier)


@pytest.mark.parametrize("url, shown", [
    ("https://user:pw@hooks.example.com/services/T0KEN?x=secret", "https://hooks.example.com"),
    ("http://127.0.0.1:9000/hook", "http://127.0.0.1:9000"),
    ("not a url", "<invalid url>"),
])
def test_redact_url(url, shown):
    assert redact_url(url) == shown


def test_parse_retry_after():
    assert parse_retry_after("7", T0) == 7.0
    assert parse_retry_after(None, T0) is None
    assert parse_retry_after("soon", T0) is None
    assert parse_retry_after("Tue, 14 Nov 2023 22:13:50 GMT", T0) == 30.0
    assert parse_retry_after("Tue, 14 Nov 2023 22:00:00 GMT", T0) == 0.0


def test_insecure_skip_verify_is_logged_once_per_receiver(caplog):
    from watchdog.notify.webhook import WebhookNotifier

    caplog.set_level(logging.WARNING, logger="watchdog.notify")
    for _ in range(3):
        WebhookNotifier(receiver="insecure-test", url="https://h/secret-path", insecure_skip_verify=True)
    WebhookNotifier(receiver="secure-test", url="https://h/secret-path")
    warnings = [r.getMessage() for r in caplog.records if "verification is disabled" in r.getMessage()]
    assert warnings == ["receiver insecure-test: webhook TLS certificate verification is disabled (insecure_skip_verify)"]
    assert all("secret-path" not in r.getMessage() for r in caplog.records)
