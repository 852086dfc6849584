"""The shipped remediation: remediations/demo.yml runs scripts/restart-demo.sh against a real demo service."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import urllib.request
from pathlib import Path

import pytest

from watchdog.clock import SYSTEM_CLOCK
from watchdog.remediate.base import ActionContext
from watchdog.remediate.command import CommandRunner
from watchdog.remediate.spec import load_remediation_files

ROOT = Path(__file__).resolve().parents[3]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def demo(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "watchdog.demo", *args], capture_output=True, text=True, timeout=30, cwd=ROOT)


def health(port: int) -> int:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as resp:
        return resp.status


def post(port: int, path: str) -> None:
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}", method="POST", data=b"")
    with urllib.request.urlopen(req, timeout=2):
        pass


@pytest.fixture
def demo_service(tmp_path):
    port = free_port()
    pidfile = tmp_path / "data" / "demo.pid"
    started = demo("--port", str(port), "--detach", "--pidfile", str(pidfile))
    assert started.returncode == 0, started.stderr
    yield port, pidfile
    demo("--stop", "--pidfile", str(pidfile))


async def test_restart_demo_restarts_a_hung_service(demo_service):
    port, pidfile = demo_service
    old_pid = int(pidfile.read_text())
    post(port, "/break?mode=hang")
    with pytest.raises(OSError):
        health(port)  # hung: the probe would time out

    specs, errors = load_remediation_files([str(ROOT / "remediations" / "demo.yml")])
    assert errors == []
    (spec,) = specs
    environ = {"PATH": os.environ["PATH"], "WATCHDOG_DEMO_PORT": str(port), "WATCHDOG_DEMO_PIDFILE": str(pidfile)}
    runner = CommandRunner(environ)
    ctx = ActionContext(remediation=spec.name, labels={"alertname": "DemoServiceDown", "target": "demo; rm -rf / $(id)"},
                        base_dir=spec.base_dir)
    prepared = runner.prepare(spec.action, ctx)
    assert prepared.argv == ("scripts/restart-demo.sh", "--target=demo; rm -rf / $(id)")
    result = await runner.execute(prepared, run_id=1, ctx=ctx, clock=SYSTEM_CLOCK)
    assert result.ok, (result, result.output_tail)
    assert "for target demo; rm -rf / $(id)" in result.output_tail  # printed as data, never run
    new_pid = int(pidfile.read_text())
    assert new_pid != old_pid
    assert health(port) == 200
    assert _gone(old_pid)


def _gone(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0] == "Z"
    except OSError:
        return True


async def test_restart_demo_starts_a_crashed_service_and_fails_cleanly_on_a_bad_port(tmp_path):
    script = ROOT / "remediations" / "scripts" / "restart-demo.sh"
    pidfile = tmp_path / "demo.pid"
    port = free_port()
    env = {"PATH": os.environ["PATH"], "WATCHDOG_DEMO_PORT": str(port), "WATCHDOG_DEMO_PIDFILE": str(pidfile),
           "WATCHDOG_PYTHON": sys.executable}
    try:
        # nothing running (crashed, stale pidfile naming a dead pid): it starts a fresh one
        pidfile.write_text("999999\n")
        done = subprocess.run([str(script), "--target=demo"], env=env, capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stdout + done.stderr
        assert health(port) == 200
    finally:
        demo("--stop", "--pidfile", str(pidfile))
    bad = subprocess.run([str(script)], env={**env, "WATCHDOG_DEMO_PORT": "80; id"}, capture_output=True, text=True, timeout=10)
    assert bad.returncode == 2 and "must be a number" in bad.stderr
    unknown = subprocess.run([str(script), "--force"], env=env, capture_output=True, text=True, timeout=10)
    assert unknown.returncode == 2
