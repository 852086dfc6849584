"""load_config: every error at once across files, paths, globs, ${VAR}, *_file secrets, alerting_file."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from watchdog.config import ConfigErrors
from watchdog.config.loader import load_config

RULES_OK = """groups:
  - name: g
    rules:
      - alert: Down
        expr: probe_success == 0
"""
RULES_BAD = """groups:
  - name: g
    rules:
      - alert: Broken
        expr: sum(
"""


def write(root: Path, rel: str, text: str) -> Path:
    path = root / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def errors_of(path: Path, environ=None) -> list[str]:
    with pytest.raises(ConfigErrors) as info:
        load_config(str(path), environ=environ or {})
    return [str(e) for e in info.value.errors]


def test_paths_resolve_against_the_config_dir_and_globs_sort(tmp_path, monkeypatch):
    write(tmp_path, "conf/rules/b.rules.yml", RULES_OK)
    write(tmp_path, "conf/rules/a.rules.yml", RULES_OK.replace("name: g", "name: h"))
    write(tmp_path, "conf/secrets/token", "  tok-123\n")
    cfg = write(tmp_path, "conf/config.yaml", (
        "storage: {path: data/w.db}\n"
        "api: {token_file: secrets/token}\n"
        "rule_files: [rules/*.rules.yml, rules/a.rules.yml, 'none/*.yml']\n"
        "targets:\n  - {name: t, type: tcp, address: '127.0.0.1:1', interval: 30s}\n"
    ))
    monkeypatch.chdir("/")
    loaded = load_config(str(cfg), environ={})
    conf = str(tmp_path / "conf")
    assert loaded.rule_file_paths == [f"{conf}/rules/a.rules.yml", f"{conf}/rules/b.rules.yml"]
    assert [g.name for g in loaded.rule_groups] == ["h", "g"]
    assert loaded.config.storage.path == f"{conf}/data/w.db"
    assert loaded.config.api.token.get_secret_value() == "tok-123"
    assert loaded.base_dir == conf
    [target] = loaded.config.targets
    assert (target.interval, target.timeout) == (30.0, 10.0)  # timeout = min(interval, global.scrape_timeout)


def test_all_errors_from_every_file_at_once(tmp_path):
    write(tmp_path, "rules/bad.rules.yml", RULES_BAD)
    write(tmp_path, "remediations/r.yml", "remediations:\n  - name: x\n    bogus: 1\n")
    cfg = write(tmp_path, "config.yaml", (
        "global: {scrape_interval: soon}\n"
        "rule_files: [rules/*.yml, missing.yml]\n"
        "remediation_files: [remediations/r.yml]\n"
        "targets: [{name: a, type: nope}]\n"
    ))
    errors = errors_of(cfg)
    joined = "\n".join(errors)
    assert f"{cfg}:1:10: global.scrape_interval: invalid duration 'soon'" in joined
    assert f"{cfg}:2:27: rule_files[1]: no such file: 'missing.yml'" in joined
    assert f"{cfg}:4:21: targets[0].type: unknown target type 'nope'" in joined
    assert f"{tmp_path}/rules/bad.rules.yml:5:" in joined
    assert f"{tmp_path}/remediations/r.yml:3:5: remediations[0].bogus: unknown field" in joined


def test_env_expansion_only_in_config_and_alerting_file(tmp_path):
    write(tmp_path, "rules/r.rules.yml", RULES_OK.replace("probe_success == 0", 'label_replace(up, "x", "${1}", "job", "(.*)")'))
    write(tmp_path, "am.yml", "route: {receiver: r}\nreceivers: [{name: r, webhook_configs: [{url: '${HOOK}'}]}]\n")
    cfg = write(tmp_path, "config.yaml", "global: {external_labels: {price: '$$5', dc: '${DC}'}}\nalerting_file: am.yml\nrule_files: [rules/r.rules.yml]\n")
    loaded = load_config(str(cfg), environ={"DC": "fra1", "HOOK": "http://hooks.local/abc"})
    assert loaded.config.global_.external_labels == {"price": "$5", "dc": "fra1"}
    assert loaded.alerting.receivers[0].webhook_configs[0].url.get_secret_value() == "http://hooks.local/abc"
    assert loaded.alerting_path == str(tmp_path / "am.yml")
    assert '"${1}"' in loaded.rule_groups[0].rules[0].expr
    errors = errors_of(cfg, environ={"DC": "x"})
    assert errors == [f"{tmp_path}/am.yml:2:47: receivers[0].webhook_configs[0].url: environment variable ${{HOOK}} is not set"]


def test_alerting_file_must_be_an_alertmanager_config(tmp_path):
    write(tmp_path, "am.yml", "receivers: []\n")
    cfg = write(tmp_path, "config.yaml", "alerting_file: am.yml\n")
    assert errors_of(cfg) == [f"{tmp_path}/am.yml:1:1: not an Alertmanager config: no top-level `route:`"]
    cfg.write_text("alerting_file: nope.yml\n")
    assert errors_of(cfg) == [f"{cfg}:1:1: alerting_file: no such file: 'nope.yml'"]


def test_secret_files_fill_secrets_and_missing_ones_are_located(tmp_path):
    write(tmp_path, "s/url", "https://hooks.example/T/abc\n")
    write(tmp_path, "s/pw", "pw\n")
    write(tmp_path, "s/empty", "\n")
    cfg = write(tmp_path, "config.yaml", (
        "alerting:\n"
        "  route: {receiver: r}\n"
        "  receivers:\n"
        "    - name: r\n"
        "      webhook_configs:\n"
        "        - url_file: s/url\n"
        "          http_config: {authorization: {credentials_file: s/pw}}\n"
    ))
    loaded = load_config(str(cfg), environ={})
    hook = loaded.alerting.receivers[0].webhook_configs[0]
    assert hook.url.get_secret_value() == "https://hooks.example/T/abc"
    assert hook.url_file == str(tmp_path / "s/url")
    assert hook.http_config.authorization.credentials.get_secret_value() == "pw"
    cfg.write_text(cfg.read_text().replace("s/pw", "s/empty") + "api: {token_file: s/none}\n")
    assert errors_of(cfg) == [
        f"{cfg}:7:41: alerting.receivers[0].webhook_configs[0].http_config.authorization.credentials_file: cannot read file 's/empty': file is empty",
        f"{cfg}:8:7: api.token_file: cannot read file 's/none': No such file or directory",
    ]


def test_escalation_policy_as_route_receiver_and_name_clash(tmp_path):
    base = (
        "alerting:\n"
        "  route: {receiver: page-policy}\n"
        "  receivers: [{name: oncall, log_configs: [{}]}, {name: lead, log_configs: [{}]}]\n"
        "escalation_policies:\n"
        "  - {name: page-policy, levels: [{after: 0s, receivers: [oncall]}, {after: 10m, receivers: [lead]}]}\n"
        "delivery: {lead: {fallback: [oncall], rate_limit: {count: 1, per: 1s}}}\n"
    )
    cfg = write(tmp_path, "config.yaml", base)
    loaded = load_config(str(cfg), environ={})
    assert loaded.config.escalation_policy("page-policy").levels[1].after == 600.0
    assert loaded.config.delivery["lead"].retry_deadline == 3600.0
    cfg.write_text(base.replace("{name: lead,", "{name: page-policy,").replace("receivers: [lead]", "receivers: [oncall]").replace("delivery: {lead: {fallback: [oncall], ", "delivery: {oncall: {"))
    assert errors_of(cfg) == [f"{cfg}:3:51: alerting.receivers[1].name: receiver name 'page-policy' is also the name of an escalation policy"]


def test_warnings_are_returned_not_raised(tmp_path):
    cfg = write(tmp_path, "config.yaml", (
        "alerting:\n  route: {receiver: r}\n"
        "  receivers: [{name: r, opsgenie_configs: [{api_key: k}], webhook_configs: [{url: 'http://x', http_config: {proxy_url: 'http://p'}}]}]\n"
    ))
    loaded = load_config(str(cfg), environ={})
    assert [(w.field, w.warning) for w in loaded.warnings] == [
        ("alerting.receivers[0].opsgenie_configs", True),
        ("alerting.receivers[0].webhook_configs[0].http_config.proxy_url", True),
    ]


def test_one_broken_section_does_not_hide_the_others(tmp_path):
    cfg = write(tmp_path, "config.yaml", "api: {listen: nowhere}\nstorage: {retention: -1}\ndaemon: {drain: 1s}\nalerting:\n  route: {}\n")
    fields = [e.split(": ")[1] for e in errors_of(cfg)]
    assert fields == ["api.listen", "storage.retention", "daemon.drain", "alerting.route.receiver"]


def test_yaml_and_io_errors_are_located(tmp_path):
    assert errors_of(tmp_path / "absent.yaml") == [f"{tmp_path}/absent.yaml:0:0: cannot read file: No such file or directory"]
    bad = tmp_path / "bin.yaml"
    bad.write_bytes(b"global:\n  x: \xff\n")
    assert errors_of(bad) == [f"{bad}:2:6: file is not valid UTF-8"]


def test_reading_does_not_change_the_working_directory(tmp_path):
    cfg = write(tmp_path, "config.yaml", "{}\n")
    before = os.getcwd()
    load_config(str(cfg), environ={})
    assert os.getcwd() == before
