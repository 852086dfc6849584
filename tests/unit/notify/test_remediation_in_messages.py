"""Every channel's default message carries what remediation did: the "remediated by" note on a
resolved alert and the output tail of a failed action (issue 7: "and so in every channel's message")."""

from __future__ import annotations

import json

from watchdog.alerting.config import EmailConfig, PagerdutyConfig, SlackConfig
from watchdog.clock import SYSTEM_CLOCK
from watchdog.notify import email, slack, templates
from watchdog.notify.base import Notice, NoticeAlert
from watchdog.notify.pagerduty import PagerdutyNotifier

OUTPUT = "\n".join(f"line {i}" for i in range(1, 21)) + "\nrestart failed: port 9798 in use\n"


def _notice(status: str, annotations: dict[str, str]) -> Notice:
    alert = NoticeAlert(
        status=status, labels={"alertname": "DemoServiceDown", "target": "demo"},
        annotations={"summary": "demo is down", **annotations}, starts_at=1_700_000_000.0,
        ends_at=None if status == "firing" else 1_700_000_060.0, generator_url="", fingerprint="f1",
    )
    return Notice.build(receiver="oncall", group_key="{}:{}", group_labels={}, alerts=[alert])


FAILED = _notice("firing", {"remediation_output": OUTPUT})
FIXED = _notice("resolved", {"remediation": "remediated by restart-demo after 2.1 s"})


def test_plain_text_has_output_tail_and_note():
    text = templates.plain_text(FAILED)
    assert "restart failed: port 9798 in use" in text and "line 14" in text
    assert "line 13" not in text   # only the last 8 lines
    assert "remediated by restart-demo after 2.1 s" in templates.plain_text(FIXED)


def test_slack_message_has_output_tail_and_note():
    cfg = SlackConfig.model_validate({"api_url": "https://hooks.slack.invalid/services/x"})
    failed = json.dumps(slack.message(cfg, FAILED))
    assert "restart failed: port 9798 in use" in failed
    assert "remediated by restart-demo after 2.1 s" in json.dumps(slack.message(cfg, FIXED))


def test_email_has_output_tail_and_note_in_both_parts():
    cfg = EmailConfig.model_validate({"to": "oncall@example.org", "from": "wd@example.org", "smarthost": "127.0.0.1:25"})
    msg = email.build_message(cfg, FAILED, now=1_700_000_001.0)
    parts = [p.get_content() for p in msg.walk() if p.get_content_type() in ("text/plain", "text/html")]
    assert len(parts) == 2 and all("restart failed: port 9798 in use" in p for p in parts)
    fixed = email.build_message(cfg, FIXED, now=1_700_000_061.0)
    assert all("remediated by restart-demo after 2.1 s" in p.get_content() for p in fixed.walk()
               if p.get_content_type() in ("text/plain", "text/html"))


def test_pagerduty_trigger_details_carry_the_output_tail():
    cfg = PagerdutyConfig.model_validate({"routing_key": "k" * 32})
    body = PagerdutyNotifier(cfg, receiver="oncall", clock=SYSTEM_CLOCK).event(FAILED)
    assert "restart failed: port 9798 in use" in body["payload"]["custom_details"]["remediation_output"]["DemoServiceDown"]
