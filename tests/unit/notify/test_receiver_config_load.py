"""config.yaml -> the channel receivers: Alertmanager's defaults, `global:` fill, `*_file` secrets, ${VAR}."""

from __future__ import annotations

import pytest

from watchdog.config.errors import ConfigErrors
from watchdog.config.loader import load_config
from watchdog.notify.delivery import receiver_policy


def load(tmp_path, text: str, env: dict[str, str] | None = None):
    path = tmp_path / "config.yaml"
    path.write_text(text)
    return load_config(str(path), environ=env or {})


def test_defaults_and_global_fill(tmp_path):
    (tmp_path / "smtp_pw").write_text("smtp-pass\n")
    (tmp_path / "slack_url").write_text("https://hooks.slack.com/services/T/B/FROMFILE\n")
    loaded = load(tmp_path, """\
alerting:
  global:
    smtp_from: wd@example.com
    smtp_smarthost: smtp.example.com:587
    smtp_auth_username: wd
    smtp_auth_password_file: smtp_pw
    slack_api_url_file: slack_url
  route: {receiver: all}
  receivers:
    - name: all
      slack_configs: [{channel: '#ops'}]
      email_configs: [{to: 'a@example.com, b@example.com'}]
      pagerduty_configs: [{routing_key: '${PD_KEY}'}]
""", env={"PD_KEY": "pd-key-from-env"})
    (r,) = loaded.alerting.receivers
    slack, mail, pd = r.slack_configs[0], r.email_configs[0], r.pagerduty_configs[0]
    # Alertmanager's defaults: Slack and email do not send resolved notices, PagerDuty does.
    assert (slack.send_resolved, mail.send_resolved, pd.send_resolved) == (False, False, True)
    assert slack.api_url.get_secret_value() == "https://hooks.slack.com/services/T/B/FROMFILE"
    assert (mail.from_, mail.smarthost, mail.auth_username, mail.require_tls) == ("wd@example.com", "smtp.example.com:587", "wd", True)
    assert mail.auth_password.get_secret_value() == "smtp-pass"
    assert pd.url == "https://events.pagerduty.com/v2/enqueue"
    assert pd.routing_key.get_secret_value() == "pd-key-from-env"
    assert "pd-key-from-env" not in repr(loaded.config) + repr(loaded.alerting)


def test_delivery_breaker_reaches_the_receiver_policy(tmp_path):
    loaded = load(tmp_path, """\
alerting:
  route: {receiver: chat}
  receivers: [{name: chat, webhook_configs: [{url: 'http://127.0.0.1:9/x'}]}]
delivery:
  chat: {breaker: {failures: 3, reset_after: 2m}, rate_limit: {count: 2, per: 1s}}
""")
    from watchdog.notify.delivery import attach_delivery_options

    attach_delivery_options(loaded.alerting, loaded.config.delivery)
    policy = receiver_policy(loaded.alerting.receivers[0])
    assert (policy.breaker_failures, policy.breaker_reset, policy.rate_limit) == (3, 120.0, (2, 1.0))


def test_channel_acks_and_heartbeat_secrets(tmp_path):
    (tmp_path / "pd_secret").write_text("pd-webhook-secret\n")
    loaded = load(tmp_path, """\
channel_acks: {slack_signing_secret: '${SIGNING}', pagerduty_webhook_secret_file: pd_secret}
heartbeat: {url: 'https://hc-ping.com/${HC_UUID}', interval: 1m, watchdog_alert: true}
""", env={"SIGNING": "slack-signing", "HC_UUID": "0000-hc-uuid"})
    acks, hb = loaded.config.channel_acks, loaded.config.heartbeat
    assert acks.slack_signing_secret.get_secret_value() == "slack-signing"
    assert acks.pagerduty_webhook_secret_file == str(tmp_path / "pd_secret")      # resolved next to config.yaml
    assert hb.url.get_secret_value() == "https://hc-ping.com/0000-hc-uuid"
    assert (hb.interval, hb.effective_timeout, hb.method, hb.watchdog_alert) == (60.0, 10.0, "GET", True)
    assert "0000-hc-uuid" not in repr(loaded.config)


def test_missing_secret_file_is_a_located_error(tmp_path):
    with pytest.raises(ConfigErrors) as exc:
        load(tmp_path, """\
alerting:
  route: {receiver: page}
  receivers:
    - name: page
      pagerduty_configs: [{routing_key_file: nowhere/key}]
""")
    (error,) = exc.value.errors
    assert str(error).startswith(f"{tmp_path}/config.yaml:5:")
    assert "pagerduty_configs[0].routing_key_file" in str(error)
