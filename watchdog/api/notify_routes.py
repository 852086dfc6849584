"""Acks from the channels: Slack's interactivity endpoint and PagerDuty's v3 webhooks.

- `POST /api/v1/notify/slack/actions`: Slack posts here when someone presses the
  Acknowledge button of one of our messages. Verified with Slack's signing secret
  (`v0=` HMAC-SHA256 of `v0:{timestamp}:{body}`, timestamp within 5 minutes).
- `POST /api/v1/notify/pagerduty`: PagerDuty v3 webhook subscriptions. Verified with
  the subscription's secret (`X-PagerDuty-Signature: v1=<HMAC-SHA256 hex>`, several
  allowed while a secret rotates). `incident.acknowledged` and `incident.resolved`
  acknowledge the group whose dedup key is the incident key, so escalation stops
  instead of paging someone else.

- `GET /api/v1/notify/receivers` (read token): per integration, whether it is failing (breaker
  open, WatchdogNotificationsFailing raised), its last error and what is queued for it.
- `POST /api/v1/receivers/{name}/test` (write token): a fire drill through the receiver's real
  notifiers; answers what each channel said (watchdog.notify.drill).

The two ack endpoints acknowledge through the dispatcher (`acknowledge(group_id, by, comment)`), exactly
as `POST /api/v1/groups/{id}/ack` does, and record `notification.acknowledged_remotely`.
Without a configured secret the endpoint refuses everything (503): an unverified request
never acks. Secrets come from config.yaml's `channel_acks:` (`slack_signing_secret[_file]`,
`pagerduty_webhook_secret[_file]`, `${VAR}` allowed) or from `WATCHDOG_SLACK_SIGNING_SECRET[_FILE]` /
`WATCHDOG_PAGERDUTY_WEBHOOK_SECRET[_FILE]`; they are never logged or echoed.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import os
from typing import Any
from urllib.parse import parse_qs

from aiohttp import web

from watchdog.api.auth import check_write
from watchdog.api.context import CTX
from watchdog.api.format import error, success
from watchdog.model import Event

log = logging.getLogger("watchdog.api")

SLACK_PATH = "/api/v1/notify/slack/actions"
PAGERDUTY_PATH = "/api/v1/notify/pagerduty"
PATHS = frozenset({SLACK_PATH, PAGERDUTY_PATH})
SLACK_MAX_SKEW = 300.0
ACK_EVENTS = ("incident.acknowledged", "incident.resolved")
ACK_ACTION_ID = "watchdog_ack"    # the Slack button's action_id (watchdog.notify.slack)


def _read_secret_file(path: str, what: str) -> str | None:
    try:
        with open(path, encoding="utf-8") as f:
            return f.read().strip() or None
    except OSError:
        log.error("cannot read the %s file", what)
        return None


def _secret(ctx: Any, attr: str, env: str) -> str | None:
    """From the context, then config.yaml's `channel_acks` (`attr` / `attr_file`), then the environment."""
    value = getattr(ctx, attr, None)
    if value is not None:
        getter = getattr(value, "get_secret_value", None)
        return getter() if getter else str(value)
    acks = getattr(ctx, "channel_acks", None)
    if acks is not None:
        inline = getattr(acks, attr, None)
        if inline is not None:
            return inline.get_secret_value() or None
        path = getattr(acks, attr + "_file", None)
        if path:
            return _read_secret_file(path, f"channel_acks.{attr}")
    if os.environ.get(env):
        return os.environ[env]
    path = os.environ.get(env + "_FILE")
    if path:
        return _read_secret_file(path, env + "_FILE")
    return None


def verify_slack(secret: str, timestamp: str | None, signature: str | None, body: bytes, now: float) -> bool:
    if not timestamp or not signature:
        return False
    try:
        if abs(now - float(timestamp)) > SLACK_MAX_SKEW:
            return False
    except ValueError:
        return False
    expected = "v0=" + hmac.new(secret.encode(), b"v0:" + timestamp.encode() + b":" + body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, signature)


def verify_pagerduty(secret: str, header: str | None, body: bytes) -> bool:
    if not header:
        return False
    expected = "v1=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return any(hmac.compare_digest(expected, s.strip()) for s in header.split(","))


def _dispatcher(ctx: Any) -> Any:
    return getattr(ctx, "dispatcher", None) or getattr(ctx, "_dispatcher", None)


async def _ack(ctx: Any, group_id: str, by: str, comment: str, source: str) -> Any:
    dispatcher = _dispatcher(ctx)
    if dispatcher is None or not hasattr(dispatcher, "acknowledge"):
        return None
    group = await dispatcher.acknowledge(group_id, by, comment, None)
    try:
        await ctx.store.append_event(Event(ctx.clock.now(), "notification.acknowledged_remotely",
                                           {"source": source, "group": group_id, "by": by, "found": group is not None}))
    except Exception:
        log.warning("could not record a %s ack on the timeline", source)
    return group


async def slack_actions(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    secret = _secret(ctx, "slack_signing_secret", "WATCHDOG_SLACK_SIGNING_SECRET")
    if not secret:
        return error(503, "unavailable", "Slack interactivity is not configured (no signing secret)")
    body = await request.read()
    if not verify_slack(secret, request.headers.get("X-Slack-Request-Timestamp"), request.headers.get("X-Slack-Signature"),
                        body, ctx.clock.now()):
        return error(401, "unauthorized", "invalid Slack signature")
    try:
        payload = json.loads(parse_qs(body.decode("utf-8"))["payload"][0])
    except (KeyError, IndexError, ValueError, UnicodeDecodeError):
        return error(400, "bad_data", "expected a form field `payload` holding JSON")
    user = payload.get("user") or {}
    who = "slack:" + str(user.get("username") or user.get("name") or user.get("id") or "unknown")[:100]
    acked = []
    for action in payload.get("actions") or []:
        if isinstance(action, dict) and action.get("action_id") == ACK_ACTION_ID and isinstance(action.get("value"), str):
            group = await _ack(ctx, action["value"][:200], who, "acknowledged in Slack", "slack")
            if group is not None:
                acked.append(action["value"])
    text = f"Acknowledged by {who[6:]}" if acked else "Nothing to acknowledge (the group is gone or already resolved)"
    # Slack shows this to the person who pressed the button; the message itself stays as it is.
    return web.json_response({"response_type": "ephemeral", "replace_original": False, "text": text})


async def pagerduty_webhook(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    secret = _secret(ctx, "pagerduty_webhook_secret", "WATCHDOG_PAGERDUTY_WEBHOOK_SECRET")
    if not secret:
        return error(503, "unavailable", "PagerDuty webhooks are not configured (no signing secret)")
    body = await request.read()
    if not verify_pagerduty(secret, request.headers.get("X-PagerDuty-Signature"), body):
        return error(401, "unauthorized", "invalid PagerDuty signature")
    try:
        event = json.loads(body)["event"]
        event_type = str(event.get("event_type", ""))
        data = event.get("data") or {}
    except (ValueError, KeyError, TypeError, AttributeError):
        return error(400, "bad_data", "expected a PagerDuty v3 webhook body {event: {...}}")
    if event_type not in ACK_EVENTS:
        return success({"ignored": event_type[:100]})
    key = data.get("incident_key") if isinstance(data, dict) else None
    if not isinstance(key, str) or not key:
        return success({"ignored": "no incident_key"})
    agent = event.get("agent") or {}
    who = "pagerduty:" + str(agent.get("summary") or agent.get("id") or "unknown")[:100]
    group = await _ack(ctx, key[:200], who, f"{event_type} in PagerDuty", "pagerduty")
    return success({"acknowledged": group is not None})


def _receiver_config(ctx: Any, name: str) -> Any:
    # The dispatcher's current alerting config: what the running daemon delivers with (reloads included).
    alerting = getattr(_dispatcher(ctx), "alerting", None)
    finder = getattr(alerting, "receiver", None)
    return finder(name) if finder is not None else None


async def receiver_test(request: web.Request) -> web.Response:
    """`POST /api/v1/receivers/{name}/test` (write token; body `{"resolve": bool}` optional): a fire drill.

    Sends one `WatchdogFireDrill` notice (summary "TEST: ...") through every integration of the
    receiver with the daemon's own receiver config and secrets, waits for the channels, and
    answers what each said. Recorded on the timeline as `notification.test`.
    """
    ctx = request.app[CTX]
    denied = check_write(request, ctx.token)
    if denied is not None:
        return denied
    name = request.match_info["name"]
    receiver = _receiver_config(ctx, name)
    if receiver is None:
        return error(404, "not_found", f"no receiver {name[:200]!r}")
    resolve = False
    if request.can_read_body:
        try:
            body = await request.json()
        except ValueError:
            return error(400, "bad_data", "expected a JSON body like {\"resolve\": true}")
        if not isinstance(body, dict) or not isinstance(body.get("resolve", False), bool):
            return error(400, "bad_data", "`resolve` must be true or false")
        resolve = body.get("resolve", False)
    from watchdog.notify.drill import run_drill

    dispatcher = _dispatcher(ctx)
    answers = await run_drill(receiver, clock=ctx.clock, external_url=getattr(dispatcher, "external_url", "") or "",
                              resolve=resolve, templates=getattr(dispatcher, "notification_templates", None))
    try:
        await ctx.store.append_event(Event(ctx.clock.now(), "notification.test", {"receiver": name, "answers": answers}))
    except Exception:
        log.warning("could not record a fire drill on the timeline")
    return success({"receiver": name, "answers": answers})


async def notify_receivers(request: web.Request) -> web.Response:
    """`GET /api/v1/notify/receivers` (read token): each integration's breaker (`failing` is what
    raises WatchdogNotificationsFailing), consecutive failures, last error and queued notices."""
    outbox = getattr(_dispatcher(request.app[CTX]), "outbox", None)
    states = outbox.integration_states() if outbox is not None and hasattr(outbox, "integration_states") else []
    return success({"receivers": states, "failing": sorted({s["receiver"] for s in states if s["failing"]})})


def register(app: web.Application, ctx: Any = None) -> None:
    """Add the channel ack endpoints (they authenticate by signature, not by API token) and the fire drill."""
    app.router.add_post(SLACK_PATH, slack_actions)
    app.router.add_post(PAGERDUTY_PATH, pagerduty_webhook)
    app.router.add_post("/api/v1/receivers/{name}/test", receiver_test)
    app.router.add_get("/api/v1/notify/receivers", notify_receivers)
