"""Secrets never appear in `watchdog check` output, even when the field holding them is invalid."""

from __future__ import annotations

from pathlib import Path

from watchdog.config.check import check_config
from watchdog.config.loader import load_config

INLINE = "inline-s3cret-7f1c"
IN_FILE = "file-s3cret-a9d2"
IN_ENV = "env-s3cret-44be"
IN_ENV_DURATION = "env-s3cret-duration-91aa"
ALL = (INLINE, IN_FILE, IN_ENV, IN_ENV_DURATION)


def _write(tmp_path: Path) -> Path:
    (tmp_path / "hook-url").write_text(f"not a url {IN_FILE}\n")
    (tmp_path / "password").write_text(f"{IN_FILE}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        f"storage: {{url: 'postgresql://watchdog:{INLINE}@db/watchdog'}}\n"
        "api: {token_file: password, listen: 'nowhere'}\n"
        "targets:\n"
        f"  - {{name: t, type: http, url: 'http://127.0.0.1:1/', headers: {{Authorization: [{INLINE}]}}}}\n"
        "  - {name: u, type: tcp, address: '127.0.0.1:1', interval: '${DURATION}'}\n"
        "alerting:\n"
        "  route: {receiver: r}\n"
        "  receivers:\n"
        "    - name: r\n"
        "      webhook_configs:\n"
        f"        - url: 'ftp://{INLINE}'\n"
        "        - url_file: hook-url\n"
        "        - url: '${HOOK}'\n"
        f"          http_config: {{basic_auth: {{username: u, password: [{INLINE}]}}}}\n"
        "        - url: 'http://ok/'\n"
        f"          http_config: {{bearer_token: {INLINE}, authorization: {{credentials: {INLINE}}}}}\n"
        f"      slack_configs: [{{api_url: {INLINE}, bogus: 1}}]\n"
    )
    return cfg


def test_no_secret_in_check_output(tmp_path, capsys, monkeypatch):
    cfg = _write(tmp_path)
    monkeypatch.setenv("HOOK", f"gopher://{IN_ENV}")
    monkeypatch.setenv("DURATION", IN_ENV_DURATION)
    assert check_config(str(cfg)) == 1
    out, err = capsys.readouterr()
    for secret in ALL:
        assert secret not in out + err
    lines = err.splitlines()
    # every invalid secret-bearing field is still reported, by name
    for field in ("storage.url", "targets[0].headers.Authorization", "targets[1].interval",
                  "webhook_configs[0].url", "webhook_configs[2].url", "basic_auth.password",
                  "webhook_configs[3].http_config"):
        assert any(field in line for line in lines), (field, err)
    assert any("<value from environment>" in line for line in lines), err


def test_secret_file_content_not_echoed_when_invalid(tmp_path, capsys, monkeypatch):
    (tmp_path / "hook-url").write_text(f"ftp://{IN_FILE}\n")
    cfg = tmp_path / "config.yaml"
    cfg.write_text("alerting:\n  route: {receiver: r}\n  receivers: [{name: r, webhook_configs: [{url_file: hook-url}]}]\n")
    assert check_config(str(cfg)) == 1
    out, err = capsys.readouterr()
    assert IN_FILE not in out + err
    assert "webhook_configs[0].url_file: file 'hook-url' does not hold an absolute http:// or https:// URL" in err


def test_loaded_secrets_are_masked_in_reprs(tmp_path):
    (tmp_path / "password").write_text(IN_FILE)
    cfg = tmp_path / "config.yaml"
    cfg.write_text(
        "api: {token_file: password}\n"
        "alerting:\n  route: {receiver: r}\n"
        f"  receivers: [{{name: r, webhook_configs: [{{url: 'http://h/{INLINE}', http_config: {{basic_auth: {{username: u, password_file: password}}}}}}]}}]\n"
    )
    loaded = load_config(str(cfg), environ={})
    assert loaded.config.api.token.get_secret_value() == IN_FILE
    text = repr(loaded) + str(loaded.config.model_dump()) + repr(loaded.alerting)
    assert IN_FILE not in text and INLINE not in text
