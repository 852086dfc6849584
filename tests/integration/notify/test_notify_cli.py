"""`watchdog notify test RECEIVER`: a marked test notice through the real notifiers, answers printed."""

from __future__ import annotations

import asyncio
import sys

from watchdog.testing.slack_server import SlackServer

SECRET_PATH = "T0SECRET/B0SECRET/XSECRETXSECRET"


async def _run(*args: str) -> tuple[int, str, str]:
    proc = await asyncio.create_subprocess_exec(sys.executable, "-m", "watchdog.cli", *args,
                                                stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE)
    out, err = await asyncio.wait_for(proc.communicate(), 60)
    return proc.returncode or 0, out.decode(), err.decode()


def _config(tmp_path, url: str) -> str:
    (tmp_path / "slack_url").write_text(url + "\n")
    path = tmp_path / "config.yaml"
    path.write_text(
        "storage: {path: ./wd.db}\n"
        "alerting:\n"
        "  route: {receiver: chat}\n"
        "  receivers:\n"
        "    - name: chat\n"
        "      slack_configs: [{api_url_file: slack_url, channel: '#ops'}]\n"
    )
    return str(path)


async def test_drill_reaches_the_channel_and_reports(tmp_path):
    async with SlackServer() as slack:
        cfg = _config(tmp_path, slack.webhook_url(SECRET_PATH))
        code, out, err = await _run("notify", "test", "chat", "--direct", "-c", cfg)
        assert code == 0, err
        assert out.startswith("chat/slack/0: accepted")
        (msg,) = slack.received
        assert "WatchdogFireDrill" in msg.body["text"] and "TEST: fire drill" in str(msg.body["attachments"])
        slack.fail_next(1, "invalid")
        code, out, err = await _run("notify", "test", "chat", "--direct", "-c", cfg)
        assert code == 1 and "chat/slack/0: FAILED (permanent, client_error)" in out
        assert "SECRET" not in out + err


async def test_unknown_receiver_is_a_usage_error(tmp_path):
    code, out, err = await _run("notify", "test", "nobody", "--direct", "-c", _config(tmp_path, "http://127.0.0.1:1/x"))
    assert code == 2 and "no receiver 'nobody' (known: chat)" in err
