"""Pure delivery stages: token bucket, circuit breaker, policy wiring, default texts."""

from __future__ import annotations

from watchdog.alerting.config import AlertingConfig
from watchdog.config.models import DeliveryOptions
from watchdog.notify.base import Notice, NoticeAlert
from watchdog.notify.delivery import CircuitBreaker, DeliveryPolicy, TokenBucket, attach_delivery_options, receiver_policy
from watchdog.notify import templates


def test_token_bucket_bursts_then_spaces():
    b = TokenBucket(2, 1.0)
    assert b.wait(0.0) == 0 and b.wait(0.0) == 0
    assert b.wait(0.0) == 0.5
    assert b.wait(0.5) == 0
    assert b.wait(0.5) > 0


def test_breaker_opens_after_failures_and_closes_after_trial():
    br = CircuitBreaker(failures=3, reset=10)
    assert not br.failure(0, "x") and not br.failure(1, "x")
    assert br.failure(2, "boom") and br.open and br.last_error == "boom"
    assert not br.allow(5)
    assert br.allow(12) and not br.allow(12)      # one trial at a time
    assert not br.failure(12, "again") and br.open and br.retry_at() == 22
    assert br.allow(22) and br.success() and not br.open and br.allow(22)


def test_delivery_options_reach_the_receiver_policy():
    am = AlertingConfig.model_validate({"route": {"receiver": "a"}, "receivers": [{"name": "a"}, {"name": "b"}]})
    attach_delivery_options(am, {"a": DeliveryOptions.model_validate({"fallback": ["b"], "retry_deadline": "10m", "rate_limit": {"count": 3, "per": "2s"}})})
    assert receiver_policy(am.receivers[0]) == DeliveryPolicy(fallback=("b",), retry_deadline=600.0, rate_limit=(3, 2.0))
    assert receiver_policy(am.receivers[1]) == DeliveryPolicy()
    assert DeliveryPolicy().rate_for("slack") == (1, 1.0) and DeliveryPolicy().rate_for("webhook") is None


def _notice(*alerts: NoticeAlert) -> Notice:
    return Notice.build(receiver="r", group_key="g", group_labels={"alertname": "A"}, alerts=list(alerts), external_url="http://wd:9797/")


def _alert(status="firing", **labels) -> NoticeAlert:
    return NoticeAlert(status=status, labels={"alertname": "A", **labels}, annotations={"summary": "s"}, starts_at=0.0,
                       ends_at=None if status == "firing" else 60.0, generator_url="", fingerprint=str(labels))


def test_subject_and_template_rendering():
    n = _notice(_alert(job="api", instance="a"), _alert(job="api", instance="b"), _alert("resolved", job="api", instance="c"))
    assert templates.subject(n) == "[FIRING:2] A (api)"
    assert templates.render("{{ .Status }} {{ len .Firing }} {{ .CommonLabels.job }} {{ range .Alerts }}{{ .Labels.instance }}{{ end }}", n) == "firing 2 api abc"
    assert templates.render("{{ .Nope.x", n, default="fallback") == "fallback"     # a broken template never loses the page
    assert templates.status_url(n) == f"http://wd:9797/api/v1/groups?id={n.dedup_key}"
    assert templates.check_template("{{ .Status }}") is None and templates.check_template("{{ if }}") is not None
