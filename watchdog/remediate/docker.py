"""The `docker` action runner: restart/start/stop a container via the Docker Engine API.

Talks HTTP over the Engine's unix socket (aiohttp's UnixConnector), as the
docker CLI does: `POST /containers/{name}/{operation}?t=N`. The Engine answers
204 when done, 304 when the container already was in that state, 404 for no
such container and 500 on a daemon error (with `{"message": ...}`). The
container name may be templated; the rendered name must follow Docker's
name grammar, so it can never become another path or a query.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import aiohttp

from watchdog.clock import Clock
from watchdog.remediate.base import ActionContext, ActionRefused, ActionResult
from watchdog.remediate.spec import DockerAction, check_container_name
from watchdog.remediate.templating import render_field

RESPONSE_CAP = 16 * 1024


@dataclass(frozen=True, slots=True)
class PreparedDocker:
    container: str
    operation: str
    socket: str
    stop_timeout: int
    timeout: float

    @property
    def path(self) -> str:
        return f"/containers/{quote(self.container, safe='')}/{self.operation}"

    def describe(self) -> dict[str, Any]:
        return {"type": "docker", "container": self.container, "operation": self.operation, "socket": self.socket,
                "request": f"POST {self.path}?t={self.stop_timeout}"}


def _engine_message(body: bytes) -> str:
    try:
        message = json.loads(body).get("message")
    except (ValueError, AttributeError):
        message = None
    return str(message) if message else body.decode("utf-8", "replace").strip()


class DockerRunner:
    def prepare(self, action: DockerAction, ctx: ActionContext) -> PreparedDocker:
        name = render_field(action.container, ctx, "container")
        try:
            check_container_name(name)
        except ValueError as e:
            raise ActionRefused(f"container: {e}") from None
        return PreparedDocker(name, action.operation, action.socket, action.stop_timeout, action.timeout)

    async def execute(self, prepared: PreparedDocker, *, run_id: int, ctx: ActionContext, clock: Clock) -> ActionResult:
        started = clock.now()
        what = f"docker {prepared.operation} {prepared.container}"
        params = {} if prepared.operation == "start" else {"t": str(prepared.stop_timeout)}
        try:
            connector = aiohttp.UnixConnector(path=prepared.socket)
            timeout = aiohttp.ClientTimeout(total=prepared.timeout)
            async with aiohttp.ClientSession(connector=connector, timeout=timeout) as session:
                async with session.post(f"http://docker{prepared.path}", params=params) as resp:
                    body = await resp.content.read(RESPONSE_CAP)
                    status = resp.status
        except asyncio.TimeoutError:
            return ActionResult(None, "", True, started, clock.now(), error=f"{what}: no answer within {prepared.timeout:g}s")
        except (aiohttp.ClientError, OSError) as e:
            return ActionResult(None, "", False, started, clock.now(), error=f"{what}: cannot reach the Docker Engine at {prepared.socket}: {e}")
        ended = clock.now()
        if status == 204:
            return ActionResult(0, f"{what}: done (204)", False, started, ended)
        if status == 304:
            return ActionResult(0, f"{what}: already {'started' if prepared.operation == 'start' else 'stopped'} (304)", False, started, ended)
        message = _engine_message(body)
        if status == 404:
            return ActionResult(None, message, False, started, ended, error=f"{what}: no such container (404)")
        return ActionResult(None, message, False, started, ended, error=f"{what}: Docker Engine answered {status}: {message[:200]}")
