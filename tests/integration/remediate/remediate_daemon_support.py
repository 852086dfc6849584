"""Helpers for the remediation tests that run the daemon as a process: ports, loopback HTTP, polling,
a webhook receiver, the demo service and the daemon itself (killed with SIGKILL at the end)."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import pytest
from aiohttp import web

ROOT = Path(__file__).resolve().parents[3]
TOKEN = "remediate-test-token-not-a-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, body: Any = None, token: str | None = None, timeout: float = 3.0) -> tuple[int, Any]:
    data = json.dumps(body).encode() if body is not None else (b"" if method == "POST" else None)
    req = urllib.request.Request(url, method=method, data=data)
    if body is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            raw, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        raw, status = e.read(), e.code
    try:
        return status, json.loads(raw)
    except ValueError:
        return status, raw.decode(errors="replace")


async def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Callable[[], str] = lambda: "") -> Any:
    """Poll the blocking `check` (in a thread) until it returns something truthy."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while time.monotonic() < deadline:
        try:
            last = await asyncio.to_thread(check)
        except (OSError, urllib.error.URLError) as exc:
            last = exc
        if last and not isinstance(last, Exception):
            return last
        await asyncio.sleep(0.1)
    pytest.fail(f"timed out after {timeout}s waiting for {what}; last={last!r}\n--- daemon log ---\n{log()[-6000:]}")


@dataclass
class Webhook:
    posts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""


@pytest.fixture
async def webhook():
    receiver = Webhook()

    async def hook(request: web.Request) -> web.Response:
        receiver.posts.append(await request.json())
        return web.json_response({"ok": True})

    app = web.Application()
    app.router.add_post("/hook", hook)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    receiver.url = f"http://127.0.0.1:{site._server.sockets[0].getsockname()[1]}/hook"  # noqa: SLF001
    yield receiver
    await runner.cleanup()


def demo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watchdog.demo", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


@dataclass
class Demo:
    port: int
    pidfile: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@pytest.fixture
def demo(tmp_path):
    instance = Demo(free_port(), tmp_path / "demo.pid")
    started = demo_cli("--port", str(instance.port), "--detach", "--pidfile", str(instance.pidfile))
    assert started.returncode == 0, started.stderr
    yield instance
    demo_cli("--stop", "--pidfile", str(instance.pidfile))


@dataclass
class Daemon:
    proc: subprocess.Popen
    api: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> Any:
        status, body = http("GET", self.api + path)
        assert status == 200, body
        return body["data"]

    def post(self, path: str, body: Any = None) -> tuple[int, Any]:
        return http("POST", self.api + path, body, token=TOKEN)

    def events(self, kind: str | None = None) -> list[dict[str, Any]]:
        return [e for e in self.get("/api/v1/events?limit=10000")["events"] if kind is None or e["kind"] == kind]

    def runs(self) -> list[dict[str, Any]]:
        return self.get("/api/v1/remediations")["runs"]

    def ready(self) -> bool:
        return http("GET", self.api + "/readyz")[0] == 200


@pytest.fixture
def start_daemon(tmp_path):
    started: list[Daemon] = []

    def start(config: Path, api_port: int, extra_env: dict[str, str] | None = None) -> Daemon:
        log_path = tmp_path / f"daemon-{len(started)}.log"
        env = {k: v for k, v in os.environ.items() if k not in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
        env.update(extra_env or {})
        with open(log_path, "wb") as out:
            proc = subprocess.Popen([sys.executable, "-m", "watchdog.cli", "run", "-c", str(config)],
                                    cwd=config.parent, stdout=out, stderr=subprocess.STDOUT, env=env)
        daemon = Daemon(proc, f"http://127.0.0.1:{api_port}", log_path)
        started.append(daemon)
        return daemon

    yield start
    for daemon in started:
        if daemon.proc.poll() is None:
            daemon.proc.send_signal(signal.SIGKILL)
            daemon.proc.wait(10)


def base_config(directory: Path, api_port: int, hook_url: str, *, targets: str, rule_files: list[str],
                remediation_files: list[str]) -> Path:
    (directory / "token").write_text(TOKEN + "\n")
    config = directory / "config.yaml"
    config.write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 250ms}}
storage: {{path: ./data/watchdog.db}}
api: {{listen: "127.0.0.1:{api_port}", token_file: ./token}}
targets:
{targets}
rule_files: {json.dumps(rule_files)}
remediation_files: {json.dumps(remediation_files)}
alerting:
  route: {{receiver: hook, group_by: [alertname, target], group_wait: 0s, group_interval: 500ms, repeat_interval: 1h}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "{hook_url}"}}]
daemon: {{drain_timeout: 2s}}
""")
    return config
