"""The demo service: in-process over a real aiohttp server, and as a detached process."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import aiohttp
import pytest
from aiohttp.test_utils import TestServer

from watchdog.demo import DemoService, is_demo_process, read_pid

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def demo():
    exits: list[int] = []
    service = DemoService(exit_process=exits.append)
    server = TestServer(service.app(), host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as session:
        yield service, session, exits
    await server.close()


async def test_healthy_then_500_then_heal(demo):
    service, session, _ = demo
    async with session.get("/health") as r:
        assert r.status == 200
        assert (await r.json())["status"] == "ok"
    async with session.post("/break", params={"mode": "500"}) as r:
        assert r.status == 200
    async with session.get("/health") as r:
        assert r.status == 500
    async with session.post("/heal") as r:
        assert r.status == 200
    async with session.get("/health") as r:
        assert r.status == 200
    async with session.get("/metrics") as r:
        text = await r.text()
        assert r.headers["Content-Type"].startswith("text/plain")
    assert 'demo_requests_total{code="500",handler="health"} 1.0' in text
    assert 'demo_requests_total{code="200",handler="health"} 2.0' in text
    assert "demo_errors_total 1.0" in text
    assert "demo_latency_seconds_bucket" in text


async def test_hang_never_answers_until_healed(demo):
    service, session, _ = demo
    await session.post("/break", params={"mode": "hang"})
    with pytest.raises(asyncio.TimeoutError):
        async with session.get("/health", timeout=aiohttp.ClientTimeout(total=0.2)):
            pass
    pending = asyncio.ensure_future(session.get("/health"))
    await asyncio.sleep(0.05)
    assert not pending.done()
    await session.post("/heal")
    resp = await asyncio.wait_for(pending, 2)
    assert resp.status == 200
    resp.release()


async def test_bad_mode_is_400(demo):
    _, session, _ = demo
    async with session.post("/break", params={"mode": "explode"}) as r:
        assert r.status == 400
    async with session.get("/health") as r:
        assert r.status == 200


async def test_crash_answers_then_exits(demo):
    _, session, exits = demo
    async with session.post("/break", params={"mode": "crash"}) as r:
        assert r.status == 200
        assert (await r.json())["status"] == "crashing"
    for _ in range(40):
        if exits:
            break
        await asyncio.sleep(0.025)
    assert exits == [1]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _cli(*args: str, timeout: float = 20) -> subprocess.CompletedProcess:
    return subprocess.run(
        [sys.executable, "-m", "watchdog.demo", *args],
        cwd=ROOT, capture_output=True, text=True, timeout=timeout,
    )


def test_detach_crash_and_stop(tmp_path):
    port = _free_port()
    pidfile = tmp_path / "demo.pid"
    started = _cli("--port", str(port), "--detach", "--pidfile", str(pidfile))
    assert started.returncode == 0, started.stderr
    pid = read_pid(pidfile)
    assert pid is not None and is_demo_process(pid)
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/health", timeout=2) as r:
            assert r.status == 200
        # A second --detach finds it running and does not start another.
        again = _cli("--port", str(port), "--detach", "--pidfile", str(pidfile))
        assert again.returncode == 0 and "already running" in again.stderr
        assert read_pid(pidfile) == pid

        req = urllib.request.Request(f"http://127.0.0.1:{port}/break?mode=crash", method="POST")
        with urllib.request.urlopen(req, timeout=2) as r:
            assert r.status == 200
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline and is_demo_process(pid):
            time.sleep(0.05)
        assert not is_demo_process(pid)

        # Restart the way the remediation does: stop (cleans the stale pidfile), detach.
        assert _cli("--stop", "--pidfile", str(pidfile)).returncode == 0
        assert _cli("--port", str(port), "--detach", "--pidfile", str(pidfile)).returncode == 0
        pid = read_pid(pidfile)
        assert pid is not None and is_demo_process(pid)
    finally:
        stopped = _cli("--stop", "--pidfile", str(pidfile))
    assert stopped.returncode == 0
    assert not pidfile.exists()
    assert not is_demo_process(pid)


def test_detach_fails_when_port_taken(tmp_path):
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        port = s.getsockname()[1]
        result = _cli("--port", str(port), "--detach", "--pidfile", str(tmp_path / "d.pid"))
    assert result.returncode == 1
    assert "exited" in result.stderr


def test_detach_needs_pidfile():
    result = _cli("--detach")
    assert result.returncode == 2
