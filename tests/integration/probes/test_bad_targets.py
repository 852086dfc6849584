"""Targets that lie, hang, flood or speak another protocol: each becomes a failure with a one-line reason,
and the scheduler keeps probing the healthy target on time beside them (real servers, real subprocesses)."""

from __future__ import annotations

import asyncio
import sys
import time
from collections import defaultdict

import pytest
from aiohttp import web

from watchdog.clock import SystemClock
from watchdog.probes.base import one_line_reason
from watchdog.probes.http import HttpProbe
from watchdog.probes.registry import TARGET_MODELS
from watchdog.probes.scheduler import ProbeScheduler

# Raw answers no well-behaved HTTP server sends.
LIARS = {
    # Content-Length promises 100 bytes, 10 arrive, then the connection closes
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nonly ten b",
    # claims gzip, sends plain text
    "fake-gzip": b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 12\r\n\r\nnot gzipped!",
    # not HTTP at all
    "ssh-banner": b"SSH-2.0-OpenSSH_9.6\r\n",
    # a status code out of range
    "bad-status": b"HTTP/1.1 999999 Whatever\r\nContent-Length: 0\r\n\r\n",
    # 200 with JSON cut short
    "cut-json": b'HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 15\r\n\r\n{"status": "ok"',
    # says UTF-8, sends Latin-1
    "latin1": b"HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 7\r\n\r\ncaf\xe9 ok",
}


async def serve_raw(payload: bytes) -> tuple[asyncio.AbstractServer, int]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            writer.write(payload)
            await writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    return server, server.sockets[0].getsockname()[1]


def model(kind: str, **fields):
    return TARGET_MODELS[kind].model_validate({"type": kind, **fields})


@pytest.mark.parametrize("name, checks, reason", [
    ("short-body", {}, "invalid response body"),
    ("fake-gzip", {}, "invalid response body"),
    ("ssh-banner", {}, "invalid response: Bad status line: Expected HTTP/, RTSP/ or ICE/: b'SSH-2.0-OpenSSH_9.6' ^"),
    ("bad-status", {}, "invalid response: Bad status line: Invalid response status: b'HTTP/1.1 999999 Whatever' ^"),
    ("cut-json", {"json_path": [{"path": "$.status", "equals": "ok"}]}, "body is not valid JSON"),
    ("latin1", {"body_contains": ["café"]}, "body does not contain 'café'"),
    ("latin1", {"body_contains": ["ok"]}, ""),  # undecodable bytes do not hide the rest of the body
])
async def test_lying_http_targets_fail_with_one_line_reasons(name, checks, reason):
    server, port = await serve_raw(LIARS[name])
    try:
        probe = HttpProbe(model("http", name=name, url=f"http://127.0.0.1:{port}/", timeout="2s", **checks), clock=SystemClock())
        try:
            result = await probe.probe()
        finally:
            await probe.close()
    finally:
        server.close()
    assert (result.success, result.reason) == (reason == "", reason)
    assert "\n" not in result.reason


def test_one_line_reason_flattens_and_bounds():
    assert one_line_reason("a\n  b\tc\r\n") == "a b c"
    long = one_line_reason("x" * 1000, limit=50)
    assert len(long) == 50 and long.endswith("...")


async def test_scheduler_keeps_its_schedule_beside_bad_targets(tmp_path):
    async def ok(request):
        return web.Response(text="ok")

    async def hang(request):
        await asyncio.sleep(30)
        return web.Response(text="late")

    async def huge(request):  # streams far more than the body cap
        resp = web.StreamResponse()
        resp.enable_chunked_encoding()
        await resp.prepare(request)
        try:
            for _ in range(1 << 14):
                await resp.write(b"x" * 65536)
        except (ConnectionError, asyncio.CancelledError):
            pass  # the probe hung up at its cap, as it should
        return resp

    async def not_exposition(request):
        return web.Response(body=b"<html>\xff\xfe not metrics</html>\n", content_type="text/plain")

    app = web.Application()
    for path, handler in (("/ok", ok), ("/hang", hang), ("/huge", huge), ("/metrics", not_exposition)):
        app.router.add_get(path, handler)
    runner = web.AppRunner(app, shutdown_timeout=0.1)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    base = f"http://127.0.0.1:{runner.addresses[0][1]}"
    liar, liar_port = await serve_raw(LIARS["ssh-banner"])

    async def silent(reader, writer):  # accepts, then says nothing
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            pass
        writer.close()

    silent_server = await asyncio.start_server(silent, "127.0.0.1", 0)
    silent_port = silent_server.sockets[0].getsockname()[1]

    interval, timeout = 0.3, "250ms"
    flood = tmp_path / "flood.py"
    flood.write_text("import sys\nwhile True:\n    sys.stdout.write('y' * 65536)\n")
    targets = [
        model("http", name="healthy", url=f"{base}/ok", interval=interval, timeout=timeout),
        model("http", name="hanging", url=f"{base}/hang", interval=interval, timeout=timeout),
        model("http", name="huge", url=f"{base}/huge", interval=interval, timeout=timeout, max_body_bytes=4096),
        model("http", name="ssh", url=f"http://127.0.0.1:{liar_port}/", interval=interval, timeout=timeout),
        model("http", name="refused", url="http://127.0.0.1:9/", interval=interval, timeout=timeout),
        model("scrape", name="garbled", url=f"{base}/metrics", interval=interval, timeout=timeout),
        model("tcp", name="silent", address=f"127.0.0.1:{silent_port}", send="PING\n", expect="PONG",
              interval=interval, timeout=timeout),
        model("command", name="sleeper", argv=[sys.executable, "-c", "import time; time.sleep(30)"],
              interval=interval, timeout=timeout),
        model("command", name="flood", argv=[sys.executable, str(flood)], interval=interval, timeout=timeout,
              max_output_bytes=1024),
    ]
    results: dict[str, list] = defaultdict(list)
    lags: list[float] = []
    scheduler = ProbeScheduler(targets, clock=SystemClock(), sink=lambda name, r, t: results[name].append(r),
                               lag_observer=lags.append)
    task = asyncio.create_task(scheduler.run())
    started = time.monotonic()
    try:
        await asyncio.sleep(3.0)
        status = {s.name: s for s in scheduler.status()}
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await scheduler.close()
        await runner.cleanup()
        for server in (liar, silent_server):
            server.close()
    elapsed = time.monotonic() - started

    healthy = results["healthy"]
    assert all(r.success for r in healthy)
    # one probe per interval (the first within one interval of the start), give or take one on a busy box
    assert len(healthy) >= int(elapsed / interval) - 2, len(healthy)
    for name in ("hanging", "huge", "ssh", "refused", "garbled", "silent", "sleeper", "flood"):
        assert results[name], f"{name} was never probed"
        assert not any(r.success for r in results[name]), name
        assert status[name].health == "down" and status[name].last_error, name
        assert "\n" not in status[name].last_error, status[name].last_error
    assert status["hanging"].last_error == "timeout after 250ms"
    assert status["sleeper"].last_error.startswith("timeout after 250ms")
    assert status["huge"].last_error == "body larger than 4096 bytes"
    assert "not valid UTF-8" in status["garbled"].last_error
    assert status["refused"].last_error.startswith("connection failed")
    # the bad targets never held up the schedule: the median probe started within a few ms of its plan
    assert sorted(lags)[len(lags) // 2] < 0.05, sorted(lags)[-5:]
