"""config.yaml and Alertmanager models: defaults, validation messages, route inheritance."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from watchdog.alerting.config import AlertingConfig, HTTPConfig, TimeIntervalSpec, WebhookConfig, check_alerting
from watchdog.config.models import ApiConfig, Config, EscalationPolicy, StorageConfig, parse_listen
from watchdog.config.yamlpos import load_yaml_text, validate


def _errors(model, text: str) -> list[str]:
    doc = load_yaml_text(text, "c.yaml")
    _, errors = validate(model, doc.data, doc)
    return [str(e) for e in errors]


def test_contract_defaults():
    c = Config()
    assert (c.global_.scrape_interval, c.global_.evaluation_interval, c.global_.external_labels) == (10.0, 10.0, {})
    assert (c.storage.path, c.storage.retention) == ("./data/watchdog.db", 30 * 86400.0)
    assert (c.api.listen, c.api.host, c.api.port, c.api.token) == ("127.0.0.1:9797", "127.0.0.1", 9797, None)
    assert (c.daemon.drain_timeout, c.daemon.resolved_retention) == (5.0, 900.0)
    assert c.rule_files == c.detector_files == c.remediation_files == []
    assert c.alerting is None and c.alerting_file is None


@pytest.mark.parametrize(
    "text, expected",
    [("127.0.0.1:9797", ("127.0.0.1", 9797)), ("[::1]:80", ("::1", 80)), (":9797", ("", 9797)),
     ("localhost:0", ("localhost", 0))],
)
def test_listen_accepts_host_port(text, expected):
    assert parse_listen(text) == expected


@pytest.mark.parametrize("text", ["localhost", "127.0.0.1:99999", "[zz]:80", "bad host:80", "1.2.3.4:x"])
def test_listen_rejects_garbage(text):
    with pytest.raises(ValueError):
        parse_listen(text)


def test_storage_url_is_refused_without_echoing_it():
    errors = _errors(StorageConfig, "url: postgresql://u:pw-in-url@db/x\n")
    assert errors == ["c.yaml:1:1: url: PostgreSQL storage is not available yet; use storage.path (SQLite)"]


def test_api_external_url_must_be_http():
    assert _errors(ApiConfig, "external_url: watchdog.example.com\n") == [
        "c.yaml:1:1: external_url: must be an absolute http:// or https:// URL"
    ]


def test_escalation_levels_must_be_ordered():
    with pytest.raises(ValidationError, match="ordered by `after`"):
        EscalationPolicy.model_validate({"name": "p", "levels": [{"after": "10m", "receivers": ["a"]}, {"after": "0s", "receivers": ["b"]}]})


def test_route_defaults_and_inheritance():
    am = AlertingConfig.model_validate({
        "route": {
            "receiver": "root", "group_by": ["alertname"], "group_wait": "5s",
            "routes": [{"matchers": ["team=db"], "repeat_interval": "1h", "continue": True,
                        "routes": [{"receiver": "dba", "match": {"sev": "page"}}]}],
        },
        "receivers": [{"name": "root"}, {"name": "dba"}],
    })
    root = am.route
    assert (root.group_wait, root.group_interval, root.repeat_interval) == (5.0, 300.0, 14400.0)
    child = root.routes[0]
    assert (child.receiver, child.group_by, child.group_wait, child.repeat_interval, child.continue_) == ("root", ["alertname"], 5.0, 3600.0, True)
    grandchild = child.routes[0]
    assert (grandchild.receiver, grandchild.repeat_interval) == ("dba", 3600.0)
    assert [str(m) for m in grandchild.all_matchers()] == ['sev="page"']
    assert [loc for loc, _ in root.walk()] == [(), ("routes", 0), ("routes", 0, "routes", 0)]
    assert check_alerting(am) == []


def test_alertmanager_defaults():
    am = AlertingConfig.model_validate({"route": {"receiver": "r"}, "receivers": [{"name": "r", "webhook_configs": [{"url": "http://h/x"}]}]})
    hook = am.receivers[0].webhook_configs[0]
    assert (hook.send_resolved, hook.max_alerts, hook.http_config.follow_redirects) == (True, 0, True)
    assert am.global_.resolve_timeout == 300.0
    assert am.receivers[0].log_configs == []
    assert "http://h/x" not in repr(am)


@pytest.mark.parametrize(
    "text, expected",
    [
        ("route: {receiver: r, group_by: ['...', job]}\n", "route.group_by: '...' (group by all labels) cannot be combined with label names"),
        ("route: {receiver: r, matchers: ['a=~\"(\"']}\n", "route.matchers[0]: invalid regular expression"),
        ("route: {receiver: r, match_re: {a: '('}}\n", "route.match_re: invalid regular expression"),
        ("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: 'http://x', urll: 1}]}]\n", "receivers[0].webhook_configs[0].urll: unknown field"),
        ("route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{}]}]\n", "exactly one of url and url_file must be configured"),
        ("route: {receiver: r}\nsilences: []\n", "silences: unknown field"),
    ],
)
def test_alerting_shape_errors(text, expected):
    errors = _errors(AlertingConfig, text)
    assert len(errors) == 1 and expected in errors[0], errors


def test_check_alerting_problems():
    am = AlertingConfig.model_validate({
        "route": {"receiver": "r", "matchers": ["a=b"], "routes": [{"receiver": "ghost", "active_time_intervals": ["never"]}, {"receiver": "policy"}]},
        "receivers": [{"name": "r", "opsgenie_configs": [{"api_key": "x"}]}, {"name": "r"}, {"name": "policy"}],
    })
    problems = check_alerting(am, policy_names={"policy"})
    messages = {(loc, msg, warn) for loc, msg, warn in problems}
    assert (("receivers", 1, "name"), "duplicate receiver name 'r' (first defined at receivers[0])", False) in messages
    assert (("receivers", 0, "opsgenie_configs"), "opsgenie_configs are not implemented yet; receiver 'r' will not send them", True) in messages
    assert (("route", "matchers"), "root route must not have any matchers", False) in messages
    assert (("route", "routes", 0, "receiver"), "undefined receiver 'ghost' used in route", False) in messages
    assert (("route", "routes", 0, "active_time_intervals", 0), "undefined time interval 'never' used in route", False) in messages
    assert (("receivers", 2, "name"), "receiver name 'policy' is also the name of an escalation policy", False) in messages
    assert len(problems) == 6


def test_extensions_refused_in_alertmanager_files():
    am = AlertingConfig.model_validate({"route": {"receiver": "r"}, "receivers": [{"name": "r", "log_configs": [{}]}]})
    assert check_alerting(am, extensions_allowed=True) == []
    [(loc, msg, warning)] = check_alerting(am, extensions_allowed=False)
    assert loc == ("receivers", 0, "log_configs") and not warning and "watchdog extension" in msg


def test_http_config_allows_one_auth_kind():
    with pytest.raises(ValidationError, match="at most one of basic_auth, authorization"):
        HTTPConfig.model_validate({"basic_auth": {"username": "u", "password": "p"}, "bearer_token": "t"})
    with pytest.raises(ValidationError, match="at most one of password and password_file"):
        HTTPConfig.model_validate({"basic_auth": {"username": "u", "password": "p", "password_file": "f"}})
    with pytest.raises(ValidationError, match="must be an absolute http"):
        WebhookConfig.model_validate({"url": "ftp://x"})


@pytest.mark.parametrize(
    "spec, ok",
    [({"weekdays": ["monday:friday"], "times": [{"start_time": "09:00", "end_time": "17:30"}]}, True),
     ({"days_of_month": ["-3:-1", "1"], "months": ["january:march", "12"], "years": ["2024:2026"]}, True),
     ({"weekdays": ["funday"]}, False), ({"days_of_month": ["0"]}, False), ({"months": ["march:january"]}, False),
     ({"times": [{"start_time": "17:00", "end_time": "09:00"}]}, False), ({"location": "Mars/Olympus"}, False)],
)
def test_time_interval_validation(spec, ok):
    if ok:
        TimeIntervalSpec.model_validate(spec)
    else:
        with pytest.raises(ValidationError):
            TimeIntervalSpec.model_validate(spec)
