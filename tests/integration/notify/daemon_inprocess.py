"""The real Daemon, in this process, on loopback (port 0), for API-level notification tests."""

from __future__ import annotations

import asyncio
import contextlib
import json
import urllib.request
from typing import Any, AsyncIterator

from watchdog.app import Daemon


@contextlib.asynccontextmanager
async def running_daemon(config_path: str, timeout: float = 15.0) -> AsyncIterator[Daemon]:
    daemon = Daemon(config_path, listen="127.0.0.1:0")
    task = asyncio.create_task(daemon.run())
    try:
        for _ in range(int(timeout / 0.02)):
            if task.done():
                raise AssertionError(f"daemon stopped during start: exit {task.result()}")
            if daemon.api_port:
                break
            await asyncio.sleep(0.02)
        else:
            raise AssertionError("daemon did not start listening")
        yield daemon
    finally:
        daemon.request_stop()
        await asyncio.wait_for(task, 30)


def http(method: str, url: str, body: Any = None, token: str | None = None) -> tuple[int, str]:
    """Blocking request (run it with asyncio.to_thread); returns (status, body text)."""
    headers = {"Content-Type": "application/json"}
    if token:
        headers["Authorization"] = f"Bearer {token}"
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, headers=headers, method=method)
    try:
        with urllib.request.urlopen(request, timeout=60) as resp:
            return resp.status, resp.read().decode()
    except urllib.error.HTTPError as e:
        return e.code, e.read().decode()
