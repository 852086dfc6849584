"""Helpers for the end-to-end tests: free ports, loopback HTTP, polling, the test config, the daemon process."""

from __future__ import annotations

import asyncio
import json
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

ROOT = Path(__file__).resolve().parents[2]
TOKEN = "e2e-token-not-a-secret"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http(method: str, url: str, token: str | None = None, timeout: float = 2.0) -> tuple[int, Any]:
    req = urllib.request.Request(url, method=method, data=b"" if method == "POST" else None)
    if token:
        req.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            body = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        body, status = e.read(), e.code
    try:
        return status, json.loads(body)
    except ValueError:
        return status, body.decode(errors="replace")


async def wait_for(what: str, check: Callable[[], Any], timeout: float, log: Callable[[], str] = lambda: "") -> Any:
    """Poll `check` (sync, may do blocking loopback HTTP in a thread) until it returns a truthy value."""
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
class WebhookReceiver:
    posts: list[dict[str, Any]] = field(default_factory=list)
    url: str = ""

    def statuses(self) -> list[str]:
        return [p.get("status", "") for p in self.posts]


@dataclass
class DemoInstance:
    port: int
    pidfile: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


def demo_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watchdog.demo", *args], cwd=ROOT, capture_output=True, text=True, timeout=30)


RESTART_SCRIPT = '''\
"""Restart the demo service the way the shipped remediation does: stop (pidfile), start detached."""
import subprocess, sys
port, pidfile, target = sys.argv[1], sys.argv[2], sys.argv[3]
assert target == "--target=demo", target
subprocess.run([sys.executable, "-m", "watchdog.demo", "--stop", "--pidfile", pidfile], check=True)
sys.exit(subprocess.run([sys.executable, "-m", "watchdog.demo", "--detach", "--port", port, "--pidfile", pidfile]).returncode)
'''


def write_config(directory: Path, demo: DemoInstance, hook_url: str, api_port: int, *, rule_for: str = "1s") -> Path:
    (directory / "token").write_text(TOKEN + "\n")
    (directory / "restart_demo.py").write_text(RESTART_SCRIPT)
    (directory / "demo.rules.yml").write_text(f"""\
groups:
  - name: demo
    interval: 500ms
    rules:
      - alert: DemoServiceDown
        expr: probe_success{{target="demo"}} == 0
        for: {rule_for}
        labels: {{severity: page}}
        annotations: {{summary: "demo is down ({{{{ $labels.instance }}}})"}}
""")
    (directory / "remediations.yml").write_text(f"""\
remediations:
  - name: restart-demo
    match: ['alertname="DemoServiceDown"']
    action:
      type: command
      argv: [{json.dumps(sys.executable)}, {json.dumps(str(directory / "restart_demo.py"))}, "{demo.port}", {json.dumps(str(demo.pidfile))}, "--target={{{{ $labels.target }}}}"]
      timeout: 20s
      env: [PATH, HOME]
    verify: {{expr: 'probe_success{{target="demo"}} == 1', within: 15s}}
    guardrails: {{cooldown: 1m, max_attempts: 3, window: 1h}}
""")
    config = directory / "config.yaml"
    config.write_text(f"""\
global: {{scrape_interval: 1s, evaluation_interval: 500ms}}
storage: {{path: ./data/watchdog.db}}
api: {{listen: "127.0.0.1:{api_port}", token_file: ./token}}
targets:
  - name: demo
    type: http
    url: {demo.url}/health
    interval: 500ms
    timeout: 400ms
    labels: {{service: demo}}
rule_files: [demo.rules.yml]
remediation_files: [remediations.yml]
alerting:
  route: {{receiver: hook, group_by: [alertname], group_wait: 0s, group_interval: 1s, repeat_interval: 1h}}
  receivers:
    - name: hook
      webhook_configs: [{{url: "{hook_url}"}}]
daemon: {{drain_timeout: 3s}}
""")
    return config


@dataclass
class DaemonProcess:
    proc: subprocess.Popen
    api: str
    log_path: Path

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def get(self, path: str) -> tuple[int, Any]:
        return http("GET", self.api + path)

    def events(self) -> list[dict[str, Any]]:
        status, body = self.get("/api/v1/events?limit=10000")
        assert status == 200, body
        return body["data"]["events"]

    def signal(self, sig: int) -> None:
        self.proc.send_signal(sig)


