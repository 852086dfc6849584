"""`POST /api/v1/receivers/{name}/test` on the running daemon, and `watchdog notify test` through it."""

from __future__ import annotations

import asyncio
import json
import os
import sys

from daemon_inprocess import http, running_daemon
from watchdog.testing.pagerduty_server import PagerdutyServer
from watchdog.testing.slack_server import SlackServer

TOKEN = "drill-api-token-1234"
SLACK_PATH = "T0DRILL/B0DRILL/XDRILLSECRETX"
ROUTING_KEY = "R0UTINGKEYDRILLSECRET000000000000"


def _config(tmp_path, slack_url: str, pd_url: str) -> str:
    (tmp_path / "token").write_text(TOKEN + "\n")
    (tmp_path / "slack_url").write_text(slack_url + "\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        "storage: {path: ./wd.db}\n"
        "api: {token_file: token, external_url: 'http://watchdog.example:9797'}\n"
        "alerting:\n"
        "  route: {receiver: chat}\n"
        "  receivers:\n"
        "    - name: chat\n"
        "      slack_configs: [{api_url_file: slack_url, channel: '#ops'}]\n"
        f"      pagerduty_configs: [{{routing_key: {ROUTING_KEY}, url: '{pd_url}'}}]\n"
    )
    return str(path)


async def _cli(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "watchdog.cli", *args, env={**os.environ, **(env or {})},
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


async def test_drill_through_the_api_reports_every_channel(tmp_path):
    async with SlackServer() as slack, PagerdutyServer() as pd:
        cfg = _config(tmp_path, slack.webhook_url(SLACK_PATH), pd.url)
        async with running_daemon(cfg) as daemon:
            base = f"http://127.0.0.1:{daemon.api_port}"
            status, text = await asyncio.to_thread(http, "POST", base + "/api/v1/receivers/chat/test", {})
            assert status == 401, text                          # the write token is required
            status, text = await asyncio.to_thread(http, "POST", base + "/api/v1/receivers/nobody/test", {}, TOKEN)
            assert status == 404 and "no receiver 'nobody'" in text

            pd.fail_next(1, "invalid")
            status, text = await asyncio.to_thread(http, "POST", base + "/api/v1/receivers/chat/test", {"resolve": True}, TOKEN)
            assert status == 200, text
            answers = json.loads(text)["data"]["answers"]
            assert [(a["integration"], a["accepted"], a["answer"]) for a in answers] == [
                ("chat/slack/0", True, "accepted"), ("chat/pagerduty/0", False, "permanent")]
            assert [m.kind for m in slack.received] == ["webhook", "webhook"]       # firing, then resolved
            assert "TEST: fire drill" in json.dumps(slack.received[0].body)
            assert SLACK_PATH not in text and ROUTING_KEY not in text

            # The CLI asks the daemon by default: token from $WATCHDOG_TOKEN, address from --url.
            code, out, err = await _cli("notify", "test", "chat", "--url", base, env={"WATCHDOG_TOKEN": TOKEN})
            assert code == 0, out + err
            assert out.splitlines()[0].startswith("chat/slack/0: accepted")
            assert out.splitlines()[1].startswith("chat/pagerduty/0: accepted")
            assert pd.events and "WatchdogFireDrill" in pd.events[-1]["payload"]["summary"]
            (tmp_path / "bad").write_text("wrong\n")
            code, out, err = await _cli("notify", "test", "chat", "--url", base, "--token-file", str(tmp_path / "bad"))
            assert code == 1 and "401" in err

            status, text = await asyncio.to_thread(http, "GET", base + "/api/v1/events?kind=notification.test", None, TOKEN)
            drills = json.loads(text)["data"]["events"]
            assert len(drills) == 2 and {d["receiver"] for d in drills} == {"chat"}
        # Daemon gone: the CLI says so and points at --direct.
        code, out, err = await _cli("notify", "test", "chat", "--url", base, env={"WATCHDOG_TOKEN": TOKEN})
        assert code == 2 and "--direct" in err
