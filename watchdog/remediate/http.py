"""The `http` action runner: one request to an API (e.g. a deploy tool's rollback endpoint).

Label values are data here too: in the URL they are percent-encoded (a value
cannot add a path segment, a query or a host); in the body templates are
rendered only inside JSON string values and the body is serialised by
`json.dumps`, so a value is always one JSON-escaped string. Headers are fixed
in the spec; their values and the bearer token are never recorded and are
redacted from the recorded response.
"""

from __future__ import annotations

import asyncio
import json
import os
from dataclasses import dataclass, field
from typing import Any, Mapping
from urllib.parse import quote, urlsplit

import aiohttp

from watchdog.clock import Clock
from watchdog.remediate.base import ActionContext, ActionRefused, ActionResult
from watchdog.remediate.command import redact
from watchdog.remediate.spec import HttpAction
from watchdog.remediate.templating import render_field

RESPONSE_CAP = 4096      # bytes of the response body kept in the output


@dataclass(frozen=True, slots=True)
class PreparedHttp:
    method: str
    url: str
    body: Any
    expected_status: tuple[int, ...]
    timeout: float
    headers: Mapping[str, str] = field(default_factory=dict, repr=False)
    token_file: str | None = None

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"type": "http", "method": self.method, "url": self.url,
                               "expected_status": list(self.expected_status)}
        if self.body is not None:
            out["body"] = self.body
        if self.headers or self.token_file:
            out["headers"] = sorted([*self.headers, *(["Authorization"] if self.token_file else [])])  # names only
        return out


def _quote_value(value: str) -> str:
    return quote(value, safe="")


def render_body(value: Any, ctx: ActionContext, where: str = "body") -> Any:
    if isinstance(value, str):
        return render_field(value, ctx, where)
    if isinstance(value, dict):
        return {k: render_body(v, ctx, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, list):
        return [render_body(v, ctx, f"{where}[{i}]") for i, v in enumerate(value)]
    return value


class HttpRunner:
    def prepare(self, action: HttpAction, ctx: ActionContext) -> PreparedHttp:
        url = render_field(action.url, ctx, "url", quote=_quote_value)
        if not urlsplit(url).netloc:
            raise ActionRefused("url: renders without a host")
        body = render_body(action.body, ctx) if action.body is not None else None
        token_file = os.path.join(ctx.base_dir, action.bearer_token_file) if action.bearer_token_file else None
        return PreparedHttp(action.method, url, body, tuple(action.expected_status), action.timeout, dict(action.headers), token_file)

    async def execute(self, prepared: PreparedHttp, *, run_id: int, ctx: ActionContext, clock: Clock) -> ActionResult:
        started = clock.now()
        headers = dict(prepared.headers)
        secrets = [v for v in headers.values() if len(v) >= 4]
        if prepared.token_file:
            try:
                with open(prepared.token_file, encoding="utf-8") as f:
                    token = f.read().strip()
            except OSError as e:
                return ActionResult(None, "", False, started, clock.now(), error=f"cannot read bearer_token_file: {e.strerror or e}")
            headers["Authorization"] = f"Bearer {token}"
            secrets.append(token)
        headers.setdefault("X-Watchdog-Run-Id", str(run_id))
        data = None
        if prepared.body is not None:
            data = json.dumps(prepared.body).encode()
            headers.setdefault("Content-Type", "application/json")
        what = f"{prepared.method} {prepared.url}"
        try:
            async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=prepared.timeout)) as session:
                async with session.request(prepared.method, prepared.url, data=data, headers=headers, allow_redirects=False) as resp:
                    body = await resp.content.read(RESPONSE_CAP)
                    status = resp.status
        except asyncio.TimeoutError:
            return ActionResult(None, "", True, started, clock.now(), error=f"{what}: no answer within {prepared.timeout:g}s")
        except (aiohttp.ClientError, OSError, ValueError) as e:
            return ActionResult(None, "", False, started, clock.now(), error=redact(f"{what}: {type(e).__name__}: {e}", secrets))
        output = redact(f"HTTP {status}\n{body.decode('utf-8', 'replace')}", secrets)
        ended = clock.now()
        if status in prepared.expected_status:
            return ActionResult(0, output, False, started, ended)
        return ActionResult(None, output, False, started, ended,
                            error=f"{what}: status {status} (expected {', '.join(map(str, prepared.expected_status))})")
