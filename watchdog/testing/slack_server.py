"""A local Slack for tests and fire drills: incoming webhooks and the chat API, on loopback.

Behaves as Slack documents: an incoming webhook answers `200 ok`, or an error status with a
text body (`invalid_payload`, `no_service`, ...); the Web API answers `200 {"ok": true, ...}`
or `{"ok": false, "error": "..."}`; rate limiting is `429` with `Retry-After`. Faults are
scripted (`fail_next`) or random (`rate_limit_ratio`), and `delay` makes it slow.

    python -m watchdog.testing.slack_server --port 9901 --token xoxb-drill

prints its base URL; point a receiver's `api_url` at BASE/services/T/B/X or its `app_url` at
BASE/api/chat.postMessage.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
from collections import deque
from dataclasses import dataclass
from typing import Any

from aiohttp import web


@dataclass
class Received:
    kind: str                     # webhook | post | update
    body: dict[str, Any]
    headers: dict[str, str]
    path: str


@dataclass
class Fault:
    kind: str                     # ratelimited | server_error | invalid | slow | error:<code>
    retry_after: float = 1.0
    delay: float = 0.0


class LoopbackServer:
    """An aiohttp app on 127.0.0.1 (port 0 picks a free port) with scripted faults."""

    def __init__(self, *, seed: int = 0) -> None:
        self.faults: deque[Fault] = deque()
        self.rate_limit_ratio = 0.0
        self.rate_limit_retry_after = 0.0
        self.delay = 0.0
        self.rejected = 0
        self._rng = random.Random(seed)
        self._runner: web.AppRunner | None = None
        self.port = 0

    def fail_next(self, count: int, kind: str, *, retry_after: float = 1.0, delay: float = 0.0) -> None:
        self.faults.extend(Fault(kind, retry_after, delay) for _ in range(count))

    def next_fault(self) -> Fault | None:
        if self.faults:
            return self.faults.popleft()
        if self.rate_limit_ratio and self._rng.random() < self.rate_limit_ratio:
            return Fault("ratelimited", self.rate_limit_retry_after)
        return None

    def app(self) -> web.Application:
        raise NotImplementedError

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> "LoopbackServer":
        self._runner = web.AppRunner(self.app(), access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]  # noqa: SLF001
        return self

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> "LoopbackServer":
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


class SlackServer(LoopbackServer):
    def __init__(self, *, token: str = "xoxb-test-token", seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.token = token
        self.received: list[Received] = []
        self.messages: dict[tuple[str, str], dict[str, Any]] = {}   # (channel, ts) -> latest message
        self._ts = 1_700_000_000.000100

    def webhook_url(self, path: str = "T000/B000/XXXX") -> str:
        return f"{self.base_url}/services/{path}"

    @property
    def app_url(self) -> str:
        return f"{self.base_url}/api/chat.postMessage"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/services/{path:.*}", self._webhook)
        app.router.add_post("/api/{method}", self._api)
        return app

    async def _fault(self, fault: Fault | None, api: bool) -> web.Response | None:
        if fault is None:
            if self.delay:
                await asyncio.sleep(self.delay)
            return None
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return None
        self.rejected += 1
        if fault.kind == "ratelimited":
            headers = {"Retry-After": f"{fault.retry_after:g}"}
            if api:
                return web.json_response({"ok": False, "error": "ratelimited"}, status=429, headers=headers)
            return web.Response(status=429, text="rate_limited", headers=headers)
        if fault.kind == "server_error":
            if api:
                return web.json_response({"ok": False, "error": "internal_error"}, status=500)
            return web.Response(status=500, text="internal_error")
        if fault.kind == "invalid":
            return web.Response(status=400, text="invalid_payload") if not api else web.json_response({"ok": False, "error": "invalid_blocks"})
        if fault.kind.startswith("error:"):
            return web.json_response({"ok": False, "error": fault.kind[6:]}) if api else web.Response(status=404, text=fault.kind[6:])
        raise ValueError(f"unknown fault {fault.kind!r}")

    async def _webhook(self, request: web.Request) -> web.Response:
        failed = await self._fault(self.next_fault(), api=False)
        if failed is not None:
            return failed
        try:
            body = await request.json()
        except ValueError:
            return web.Response(status=400, text="invalid_payload")
        if not isinstance(body, dict) or not (body.get("text") or body.get("blocks") or body.get("attachments")):
            return web.Response(status=400, text="no_text")
        self.received.append(Received("webhook", body, dict(request.headers), request.path))
        return web.Response(text="ok")

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        if request.headers.get("Authorization") != f"Bearer {self.token}":
            return web.json_response({"ok": False, "error": "invalid_auth"})
        failed = await self._fault(self.next_fault(), api=True)
        if failed is not None:
            return failed
        if request.content_type == "application/json":
            body = await request.json()
        else:
            body = dict(await request.post())
            for key in ("attachments", "blocks"):
                if isinstance(body.get(key), str):
                    body[key] = json.loads(body[key])
        channel = str(body.get("channel") or "")
        if not channel:
            return web.json_response({"ok": False, "error": "channel_not_found"})
        if method == "chat.postMessage":
            self._ts += 1
            ts = f"{self._ts:.6f}"
            self.received.append(Received("post", body, dict(request.headers), request.path))
            if not body.get("thread_ts"):
                self.messages[(channel, ts)] = body
            return web.json_response({"ok": True, "channel": channel, "ts": ts, "message": {"text": body.get("text", "")}})
        if method == "chat.update":
            key = (channel, str(body.get("ts")))
            if key not in self.messages:
                return web.json_response({"ok": False, "error": "message_not_found"})
            self.received.append(Received("update", body, dict(request.headers), request.path))
            self.messages[key] = body
            return web.json_response({"ok": True, "channel": channel, "ts": key[1]})
        return web.json_response({"ok": False, "error": "unknown_method"})


async def _serve(args: argparse.Namespace) -> None:
    server = SlackServer(token=args.token)
    server.rate_limit_ratio = args.rate_limit_ratio
    await server.start(args.port)
    print(f"local Slack on {server.base_url} (webhook {server.webhook_url()}, app_url {server.app_url})", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local Slack (webhooks and chat API) for fire drills.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--token", default="xoxb-test-token")
    parser.add_argument("--rate-limit-ratio", type=float, default=0.0, help="answer 429 to this share of requests")
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
