"""An existing Alertmanager file (`alerting_file:`, global and templates included) loads exactly as inline `alerting:`.

Also: Alertmanager fields we do not implement load with a warning naming them;
keys Alertmanager itself does not know are errors, located in their file.
"""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from watchdog.alerting.load import load_routing
from watchdog.alerting.routing import RouteTree
from watchdog.config.errors import ConfigErrors
from watchdog.config.loader import load_config
from watchdog.model import Labels

AM_FILE = """\
global:
  resolve_timeout: 2m
  slack_api_url: https://hooks.slack.example/services/T0/B0/XYZ
  smtp_smarthost: smtp.example.org:587
  smtp_from: alertmanager@example.org
  smtp_auth_username: am
  smtp_auth_password: hunter2
templates:
  - templates/*.tmpl
route:
  receiver: team-mails
  group_by: ['...']
  group_wait: 10s
  routes:
    - matchers: [severity="critical", 'team=~"db|storage"']
      receiver: db-slack
      continue: true
    - match: {team: web}
      match_re: {service: "front.*"}
      receiver: web-pager
inhibit_rules:
  - source_match: {severity: critical}
    target_match_re: {severity: warning|info}
    equal: [cluster]
receivers:
  - name: team-mails
    email_configs: [{to: team@example.org}]
  - name: db-slack
    slack_configs: [{channel: '#db', title: '{{ template "slack.title" . }}'}]
  - name: web-pager
    pagerduty_configs: [{routing_key: abc123}]
"""


def write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text))
    return path


def dump(alerting) -> dict:
    return alerting.model_dump(mode="json", round_trip=True) | {
        "secrets": [r.slack_configs[0].api_url.get_secret_value() for r in alerting.receivers if r.slack_configs]
        + [r.email_configs[0].auth_password.get_secret_value() for r in alerting.receivers if r.email_configs]}


def test_alerting_file_loads_like_inline_alerting(tmp_path):
    write(tmp_path / "templates" / "slack.tmpl", '{{ define "slack.title" }}[{{ .Status }}]{{ end }}\n')
    write(tmp_path / "am.yml", AM_FILE)
    by_file = load_config(str(write(tmp_path / "config.yaml", "alerting_file: am.yml\n")))
    inline = load_config(str(write(tmp_path / "inline.yaml", "alerting:\n" + textwrap.indent(AM_FILE, "  "))))
    assert by_file.alerting_path == str(tmp_path / "am.yml")
    assert dump(by_file.alerting) == dump(inline.alerting)
    am = by_file.alerting
    assert am.global_.resolve_timeout == 120.0 and am.templates == ["templates/*.tmpl"]
    mail = am.receiver("team-mails").email_configs[0]
    assert (mail.smarthost, mail.from_, mail.auth_username) == ("smtp.example.org:587", "alertmanager@example.org", "am")
    assert am.receiver("db-slack").slack_configs[0].api_url.get_secret_value().startswith("https://hooks.slack.example/")
    assert [(w.field, w.message) for w in by_file.warnings] == [(w.field.removeprefix("alerting."), w.message) for w in inline.warnings]
    assert [w.field for w in by_file.warnings] == []   # templates/slack.tmpl defines slack.title
    assert by_file.notification_templates is not None and "slack.title" in by_file.notification_templates.names()
    # The same answers from `watchdog routes test` for both files, and for the Alertmanager file on its own.
    for source in (str(tmp_path / "config.yaml"), str(tmp_path / "inline.yaml"), str(tmp_path / "am.yml")):
        tree = RouteTree(load_routing(source).alerting.route)
        assert tree.receivers(Labels.of({"severity": "critical", "team": "db"})) == ["db-slack"]   # continue, but no later sibling matches
        assert tree.receivers(Labels.of({"team": "web", "service": "frontend"})) == ["web-pager"]
        assert tree.receivers(Labels.of({"team": "web", "service": "api"})) == ["team-mails"]
        assert tree.root.group_by == ("...",) and tree.root.children[0].timing.group_wait == 10.0  # inherited


def test_unimplemented_alertmanager_fields_warn_and_unknown_keys_are_errors(tmp_path):
    write(tmp_path / "am.yml", """\
        route: {receiver: ops}
        receivers:
          - name: ops
            opsgenie_configs: [{api_key: k}]
            msteams_configs: [{webhook_url: 'https://example.org/hook'}]
        """)
    loaded = load_config(str(write(tmp_path / "config.yaml", "alerting_file: am.yml\n")))
    warnings = [str(w) for w in loaded.warnings]
    assert any("opsgenie_configs are not implemented yet" in w and w.startswith(f"{tmp_path}/am.yml:4:5:") for w in warnings)
    assert any("msteams_configs are not implemented yet" in w for w in warnings)

    write(tmp_path / "am.yml", """\
        route: {receiver: ops, recevier_typo: x}
        receivers:
          - name: ops
            webhook_configs: [{url: 'http://127.0.0.1:9/h', sendresolved: true}]
        """)
    with pytest.raises(ConfigErrors) as err:
        load_config(str(tmp_path / "config.yaml"))
    messages = [str(e) for e in err.value.errors]
    assert any(m.startswith(f"{tmp_path}/am.yml:1:24: route.recevier_typo:") for m in messages), messages
    assert any(m.startswith(f"{tmp_path}/am.yml:4:53: receivers[0].webhook_configs[0].sendresolved:") for m in messages), messages


def test_a_field_calling_an_undefined_template_is_named_in_a_warning(tmp_path):
    # no templates/*.tmpl here: the Slack title calls a template that is defined nowhere
    write(tmp_path / "am.yml", AM_FILE)
    loaded = load_config(str(write(tmp_path / "config.yaml", "alerting_file: am.yml\n")))
    assert [str(w) for w in loaded.warnings if "template" in str(w)] == [
        f"{tmp_path}/am.yml:29:38: warning: receivers[1].slack_configs[0].title: template \"slack.title\" "
        "is not defined in the templates files (the default text will be sent)"]
