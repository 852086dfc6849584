"""Fixtures for the end-to-end tests: a real demo service, a real webhook receiver, the daemon as a process."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest
from aiohttp import web

from e2e_support import DaemonProcess, DemoInstance, WebhookReceiver, demo_cli, free_port


@pytest.fixture
async def webhook():
    receiver = WebhookReceiver()

    async def hook(request: web.Request) -> web.Response:
        receiver.posts.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # noqa: SLF001
    receiver.url = f"http://127.0.0.1:{port}/hook"
    yield receiver
    await runner.cleanup()


@pytest.fixture
def demo(tmp_path):
    instance = DemoInstance(free_port(), tmp_path / "demo.pid")
    started = demo_cli("--port", str(instance.port), "--detach", "--pidfile", str(instance.pidfile))
    assert started.returncode == 0, started.stderr
    yield instance
    demo_cli("--stop", "--pidfile", str(instance.pidfile))


@pytest.fixture
def start_daemon(tmp_path):
    started: list[DaemonProcess] = []

    def start(config: Path, api_port: int) -> DaemonProcess:
        log_path = tmp_path / f"daemon-{len(started)}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        with open(log_path, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "watchdog.cli", "run", "-c", str(config)],
                                    cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, env=env)
        d = DaemonProcess(proc, f"http://127.0.0.1:{api_port}", log_path)
        started.append(d)
        return d

    yield start
    for d in started:
        if d.proc.poll() is None:
            d.proc.send_signal(signal.SIGKILL)
            d.proc.wait(10)
