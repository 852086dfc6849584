"""A local PagerDuty Events API v2 for tests and fire drills, on loopback.

`POST /v2/enqueue` validates events as PagerDuty documents them and answers
`202 {"status": "success", "dedup_key": ...}` or `400 {"status": "invalid event", "errors": [...]}`;
faults (429, 5xx, slow) are scripted as in the local Slack. Incidents are tracked per dedup key
(triggered / acknowledged / resolved), and a trigger for an incident that is already open is
counted in `duplicate_triggers` (the crash test's "paged twice").

`webhook_v3(secret, event_type, incident_key)` builds a signed v3 webhook delivery
(body and headers) for testing our `/api/v1/notify/pagerduty` endpoint.

    python -m watchdog.testing.pagerduty_server --port 9902
"""

from __future__ import annotations

import argparse
import asyncio
import hashlib
import hmac
import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from watchdog.testing.slack_server import Fault, LoopbackServer

SEVERITIES = ("critical", "error", "warning", "info")
ACTIONS = ("trigger", "acknowledge", "resolve")


@dataclass
class Incident:
    dedup_key: str
    status: str                          # triggered | acknowledged | resolved
    events: list[dict[str, Any]] = field(default_factory=list)


def validate_event(event: Any) -> list[str]:
    """PagerDuty's checks for an Events API v2 body; empty when valid."""
    if not isinstance(event, dict):
        return ["Event object is invalid"]
    errors = []
    if not isinstance(event.get("routing_key"), str) or not event.get("routing_key"):
        errors.append("'routing_key' is missing or blank")
    action = event.get("event_action")
    if action not in ACTIONS:
        errors.append("'event_action' is invalid (must be one of trigger, acknowledge, resolve)")
    dedup = event.get("dedup_key")
    if dedup is not None and (not isinstance(dedup, str) or len(dedup) > 255):
        errors.append("'dedup_key' must be a string of at most 255 characters")
    if action in ("acknowledge", "resolve") and not dedup:
        errors.append("'dedup_key' is required for acknowledge and resolve")
    if action == "trigger":
        payload = event.get("payload")
        if not isinstance(payload, dict):
            errors.append("'payload' is missing")
        else:
            summary = payload.get("summary")
            if not isinstance(summary, str) or not summary:
                errors.append("'payload.summary' is missing or blank")
            elif len(summary) > 1024:
                errors.append("'payload.summary' is longer than 1024 characters")
            if not isinstance(payload.get("source"), str) or not payload.get("source"):
                errors.append("'payload.source' is missing or blank")
            if payload.get("severity") not in SEVERITIES:
                errors.append("'payload.severity' is invalid (must be one of critical, error, warning, info)")
    return errors


class PagerdutyServer(LoopbackServer):
    def __init__(self, *, seed: int = 0) -> None:
        super().__init__(seed=seed)
        self.events: list[dict[str, Any]] = []
        self.incidents: dict[str, Incident] = {}
        self.duplicate_triggers = 0
        self.invalid = 0

    @property
    def url(self) -> str:
        return f"{self.base_url}/v2/enqueue"

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v2/enqueue", self._enqueue)
        return app

    async def _fault(self, fault: Fault | None) -> web.Response | None:
        if fault is None:
            if self.delay:
                await asyncio.sleep(self.delay)
            return None
        if fault.kind == "slow":
            await asyncio.sleep(fault.delay)
            return None
        self.rejected += 1
        if fault.kind == "ratelimited":
            headers = {"Retry-After": f"{fault.retry_after:g}"} if fault.retry_after else {}
            return web.json_response({"status": "throttled", "message": "Requests for this service are arriving too quickly."},
                                     status=429, headers=headers)
        if fault.kind == "server_error":
            return web.json_response({"status": "error", "message": "internal error"}, status=500)
        if fault.kind == "invalid":
            return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": ["scripted"]}, status=400)
        raise ValueError(f"unknown fault {fault.kind!r}")

    async def _enqueue(self, request: web.Request) -> web.Response:
        failed = await self._fault(self.next_fault())
        if failed is not None:
            return failed
        try:
            event = await request.json()
        except ValueError:
            self.invalid += 1
            return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": ["body is not JSON"]}, status=400)
        errors = validate_event(event)
        if errors:
            self.invalid += 1
            return web.json_response({"status": "invalid event", "message": "Event object is invalid", "errors": errors}, status=400)
        key = event.get("dedup_key") or hashlib.sha256(json.dumps(event, sort_keys=True).encode()).hexdigest()[:32]
        self.events.append(event)
        incident = self.incidents.get(key)
        action = event["event_action"]
        if action == "trigger":
            if incident is not None and incident.status != "resolved":
                self.duplicate_triggers += 1
            if incident is None or incident.status == "resolved":
                incident = self.incidents[key] = Incident(key, "triggered")
        elif incident is not None and incident.status != "resolved":
            incident.status = "acknowledged" if action == "acknowledge" else "resolved"
        if incident is not None:
            incident.events.append(event)
        return web.json_response({"status": "success", "message": "Event processed", "dedup_key": key}, status=202)


def webhook_v3(secret: str, event_type: str, incident_key: str, *, agent: str = "On-call Person") -> tuple[bytes, dict[str, str]]:
    """A PagerDuty v3 webhook delivery (body, headers) signed with `secret`, as PagerDuty sends it."""
    body = json.dumps({"event": {
        "id": "01DRILL", "event_type": event_type, "resource_type": "incident", "occurred_at": "2024-01-01T00:00:00Z",
        "agent": {"type": "user_reference", "summary": agent},
        "data": {"type": "incident", "id": "PDRILL", "incident_key": incident_key, "status": event_type.split(".")[-1],
                 "title": "drill"},
    }}).encode()
    signature = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return body, {"Content-Type": "application/json", "X-PagerDuty-Signature": signature}


async def _serve(args: argparse.Namespace) -> None:
    server = PagerdutyServer()
    server.rate_limit_ratio = args.rate_limit_ratio
    await server.start(args.port)
    print(f"local PagerDuty Events API v2 on {server.url}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description="A local PagerDuty Events API v2 for fire drills.")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--rate-limit-ratio", type=float, default=0.0)
    args = parser.parse_args()
    try:
        asyncio.run(_serve(args))
    except KeyboardInterrupt:
        pass


if __name__ == "__main__":
    main()
