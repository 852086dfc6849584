"""Secrets never leak: inline, `*_file` and `${VAR}` secrets of every channel, against failing channels.

One daemon runs in this process with every kind of secret configured (Slack webhook URL and bot
token, PagerDuty routing key, SMTP password, webhook URL with path/query/user-info tokens, basic
auth and bearer credentials, the ack endpoints' signing secrets, the heartbeat URL), every channel
failing (5xx, 4xx, 429, connection refused). Then every secret is looked for in: the captured logs,
every GET endpoint of the API (/api/v1/*, /metrics), the fire-drill answers, `watchdog check`
output (valid and invalid configs), `watchdog notify test` output, and the timeline.
"""

from __future__ import annotations

import asyncio
import json
import logging
import os
import socket
import sys
from pathlib import Path

import pytest
from aiohttp import web

from daemon_inprocess import http, running_daemon

pytestmark = pytest.mark.timeout(120)

TOKEN = "api-token-not-a-channel-secret"
SECRETS = {
    "slack_hook": "SLACKHOOKSECRET7f3a",            # inline api_url path
    "slack_bot": "xoxb-BOTTOKENSECRET9c1d",         # app_token_file
    "pd_key": "PDROUTINGSECRET00000000000004e21",   # routing_key from ${WD_TEST_PD_KEY}
    "smtp": "SMTPPASSWORDSECRET51b0",              # inline auth_password
    "hook_path": "HOOKPATHSECRET1e77",              # inline webhook URL path
    "hook_query": "HOOKQUERYSECRET2a90",            # ... its query
    "hook_userinfo": "URLPASSSECRET83ce",           # ... its user info
    "basic": "BASICPASSSECRET6d12",                 # basic_auth.password_file
    "bearer": "BEARERSECRET0b5f",                   # authorization.credentials from ${WD_TEST_BEARER}
    "hook_file": "HOOKFILESECRET44aa",              # url_file
    "signing": "SLACKSIGNINGSECRET3e3e",            # channel_acks inline
    "pd_webhook": "PDWEBHOOKSECRET7777",            # channel_acks *_file
    "heartbeat": "HEARTBEATTOKENSECRET5151",        # heartbeat url path
}


def refused_port() -> int:
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class FailingChannels:
    """Every request fails with the status named by the path's first segment (/s500/..., /s400/..., /s429/...)."""

    def __init__(self) -> None:
        self.requests = 0

    async def handle(self, request: web.Request) -> web.Response:
        self.requests += 1
        await request.read()
        status = int(request.path.split("/")[1][1:])
        headers = {"Retry-After": "1"} if status == 429 else {}
        # A channel that echoes what it got must not make us leak it either.
        return web.Response(status=status, text=f"error for {request.path_qs}", headers=headers)


@pytest.fixture
async def channels():
    srv = FailingChannels()
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", srv.handle)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    srv.base = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}"  # type: ignore[attr-defined]
    yield srv
    await runner.cleanup()


def write_config(tmp_path, base: str) -> str:
    s = SECRETS
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "bot_token").write_text(s["slack_bot"] + "\n")
    (tmp_path / "basic_pw").write_text(s["basic"] + "\n")
    (tmp_path / "hook_url").write_text(f"http://127.0.0.1:{refused_port()}/hook/{s['hook_file']}\n")
    (tmp_path / "pd_webhook").write_text(s["pd_webhook"] + "\n")
    (tmp_path / "rules.yml").write_text(
        "groups:\n- name: g\n  interval: 1s\n  rules:\n  - alert: SecretScan\n    expr: vector(1)\n"
        "    labels: {severity: critical}\n    annotations: {summary: scanning for secrets}\n")
    path = tmp_path / "config.yaml"
    route = "\n".join(f"      - {{receiver: {r}, continue: true}}" for r in ("slack", "bot", "pager", "mail", "hook", "hook2"))
    path.write_text(f"""\
storage: {{path: ./wd.db}}
api: {{token_file: token}}
rule_files: [rules.yml]
channel_acks: {{slack_signing_secret: {s['signing']}, pagerduty_webhook_secret_file: pd_webhook}}
heartbeat: {{url: '{base}/s500/ping/{s['heartbeat']}', interval: 1s}}
delivery:
  slack: {{retry_deadline: 1m}}
alerting:
  route:
    receiver: slack
    group_wait: 0s
    group_interval: 1s
    routes:
{route}
  receivers:
    - name: slack
      slack_configs: [{{api_url: '{base}/s500/services/T0/B0/{s['slack_hook']}', send_resolved: true}}]
    - name: bot
      slack_configs: [{{app_token_file: bot_token, channel: '#ops', app_url: '{base}/s429/api/chat.postMessage'}}]
    - name: pager
      pagerduty_configs: [{{routing_key: '${{WD_TEST_PD_KEY}}', url: '{base}/s400/v2/enqueue'}}]
    - name: mail
      email_configs: [{{to: ops@example.com, from: wd@example.com, smarthost: '127.0.0.1:{refused_port()}',
                        auth_username: wd, auth_password: {s['smtp']}, require_tls: false}}]
    - name: hook
      webhook_configs:
        - url: 'http://user:{s['hook_userinfo']}@127.0.0.1:{base.rsplit(':', 1)[1]}/s503/hook/{s['hook_path']}?token={s['hook_query']}'
    - name: hook2
      webhook_configs:
        - url_file: hook_url
          http_config: {{authorization: {{credentials: '${{WD_TEST_BEARER}}'}}}}
        - url: '{base}/s401/basic'
          http_config: {{basic_auth: {{username: wd, password_file: basic_pw}}}}
""")
    return str(path)


ENV = {"WD_TEST_PD_KEY": SECRETS["pd_key"], "WD_TEST_BEARER": SECRETS["bearer"]}


def leaks(text: str) -> list[str]:
    return [name for name, secret in SECRETS.items() if secret in text]


async def cli(*args: str, cwd: str) -> tuple[int, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "watchdog.cli", *args, cwd=cwd,
                                                env={**os.environ, **ENV, "WATCHDOG_TOKEN": TOKEN},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.STDOUT)
    out, _ = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode()


async def test_no_secret_anywhere(tmp_path, channels, caplog, monkeypatch):
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)
    cfg = write_config(tmp_path, channels.base)
    outputs: dict[str, str] = {}

    code, outputs["check valid"] = await cli("check", "-c", cfg, cwd=str(tmp_path))
    assert code == 0, outputs["check valid"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(Path(cfg).read_text()
                   .replace(f"api_url: '{channels.base}/s500/", f"api_url: 'ftp-{SECRETS['slack_hook']}/")
                   .replace(f"auth_password: {SECRETS['smtp']}", f"auth_password: [{SECRETS['smtp']}]")
                   .replace(f"slack_signing_secret: {SECRETS['signing']}", f"slack_signing_secret: {{x: {SECRETS['signing']}}}")
                   .replace("pagerduty_webhook_secret_file: pd_webhook", f"pagerduty_webhook_secret_file: pd_webhook, pagerduty_webhook_secret: {SECRETS['pd_webhook']}")
                   .replace(f"/ping/{SECRETS['heartbeat']}'", f"/ping/{SECRETS['heartbeat']}', url_file: x")
                   .replace("${WD_TEST_BEARER}", "${WD_TEST_UNSET_VARIABLE}"))
    code, outputs["check invalid"] = await cli("check", "-c", str(bad), cwd=str(tmp_path))
    assert code != 0 and outputs["check invalid"].count("bad.yaml:") >= 5, outputs["check invalid"]

    with caplog.at_level(logging.DEBUG):
        async with running_daemon(cfg) as daemon:
            base = f"http://127.0.0.1:{daemon.api_port}"

            async def get(path: str) -> str:
                status, text = await asyncio.to_thread(http, "GET", base + path, None, TOKEN)
                assert status < 500, (path, text)
                return text

            # Every integration failed at least once, the heartbeat too.
            for _ in range(300):
                failed = json.loads(await get("/api/v1/events?kind=notification.failed&limit=5000"))["data"]["events"]
                if len({(e["receiver"], e["integration"]) for e in failed}) >= 6 and "heartbeat ping" in caplog.text:
                    break
                await asyncio.sleep(0.05)
            assert {(e["receiver"], e["integration"]) for e in failed} == {
                ("slack", "slack"), ("bot", "slack"), ("pager", "pagerduty"), ("mail", "email"), ("hook", "webhook"),
                ("hook2", "webhook")}
            assert len({e.get("error") for e in failed if e["receiver"] == "hook2"}) >= 2   # both hook2 webhooks
            assert channels.requests > 0

            for receiver in ("slack", "bot", "pager", "mail", "hook", "hook2"):
                status, text = await asyncio.to_thread(http, "POST", f"{base}/api/v1/receivers/{receiver}/test", {}, TOKEN)
                assert status == 200 and '"accepted": false' in text, text
                outputs[f"drill {receiver}"] = text
            code, outputs["notify test (api)"] = await cli("notify", "test", "hook2", "--url", base, cwd=str(tmp_path))
            assert code == 1 and "hook2/webhook/0: FAILED" in outputs["notify test (api)"]
            code, outputs["notify test (direct)"] = await cli("notify", "test", "hook", "--direct", "-c", cfg, cwd=str(tmp_path))
            assert code == 1 and "hook/webhook/0: FAILED (retryable, server_error)" in outputs["notify test (direct)"]
            # Bad signatures on the ack endpoints.
            for path in ("/api/v1/notify/slack/actions", "/api/v1/notify/pagerduty"):
                status, text = await asyncio.to_thread(http, "POST", base + path, {"event": {}})
                assert status == 401, text
                outputs[path] = text

            routes = [r.resource.canonical for r in daemon._api._runner.app.router.routes()  # noqa: SLF001
                      if r.method == "GET" and r.resource is not None and "{" not in r.resource.canonical]
            assert "/metrics" in routes and "/api/v1/events" in routes and len(routes) >= 8
            for path in routes:
                outputs[f"GET {path}"] = await get(path)
            outputs["events"] = await get("/api/v1/events?limit=10000")
            assert "notification.test" in outputs["events"] and "notification.failed" in outputs["events"]
            assert "watchdog_notify_notifications_failed_total" in outputs["GET /metrics"]

    # Everything the daemon logged, record attributes too (extra=..., args); the test's own channel
    # server (aiohttp.access) logs the paths it was asked for, as any web server would.
    ours = [r for r in caplog.records if r.name != "aiohttp.access"]
    outputs["logs"] = "\n".join(f"{r.getMessage()} {r.exc_text or ''} {r.__dict__}" for r in ours)
    assert "heartbeat ping to http://127.0.0.1" in outputs["logs"]
    for r in ours:
        if SECRETS["slack_hook"] in f"{r.getMessage()} {r.__dict__}":
            print("LEAK", r.name, r.levelname, r.getMessage()[:300], r.args)
    found = {where: leaks(text) for where, text in outputs.items() if leaks(text)}
    assert found == {}, f"secrets leaked: {found}"
