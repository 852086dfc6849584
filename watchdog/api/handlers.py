"""Read endpoints and `/-/reload`. Each handler asks the ApiContext; none keeps state."""

from __future__ import annotations

import logging

from aiohttp import web
from prometheus_client import REGISTRY, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from watchdog.api.auth import check_write
from watchdog.api.context import CTX
from watchdog.api.format import BadParameter, alert_json, error, labels_json, parse_int, parse_time, rfc3339, success
from watchdog.model import AlertState

log = logging.getLogger(__name__)

# Resolved alerts stay listed this long (CONTRACT.md), as Alertmanager keeps them visible.
RESOLVED_RETENTION = 15 * 60
MAX_EVENTS = 10_000


async def healthz(request: web.Request) -> web.Response:
    return web.json_response({"status": "ok"})


async def readyz(request: web.Request) -> web.Response:
    if request.app[CTX].ready:
        return web.json_response({"status": "ready"})
    return web.json_response({"status": "not ready"}, status=503)


async def metrics(request: web.Request) -> web.Response:
    resp = web.Response(body=generate_latest(REGISTRY))
    resp.headers["Content-Type"] = CONTENT_TYPE_LATEST
    return resp


async def alerts(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    now = ctx.clock.now()
    shown = [
        a for a in ctx.alerts()
        if a.state is not AlertState.INACTIVE
        and not (a.state is AlertState.RESOLVED and a.resolved_at is not None and now - a.resolved_at > RESOLVED_RETENTION)
    ]
    return success({"alerts": [alert_json(a) for a in shown]})


async def targets(request: web.Request) -> web.Response:
    out = [
        {
            "name": t.name,
            "type": t.type,
            "instance": t.instance,
            "labels": labels_json(t.labels),
            "health": t.health,
            "lastProbe": rfc3339(t.last_probe),
            "lastDuration": t.last_duration,
            "lastError": t.last_error,
        }
        for t in request.app[CTX].targets()
    ]
    return success({"targets": out})


async def events(request: web.Request) -> web.Response:
    try:
        since_text = request.query.get("since")
        since = parse_time(since_text, "since") if since_text else None
        limit = parse_int(request.query.get("limit"), "limit", 1000, 1, MAX_EVENTS)
        kinds_text = request.query.get("kind", "")
        kinds = [k.strip() for k in kinds_text.split(",") if k.strip()] or None
    except BadParameter as exc:
        return error(400, "bad_data", str(exc))
    found = await request.app[CTX].store.events(since=since, limit=limit, kinds=kinds)
    return success({"events": [e.to_json() for e in found]})


async def rules(request: web.Request) -> web.Response:
    groups = [
        {
            "name": g.name,
            "file": g.file,
            "interval": g.interval,
            "limit": g.limit,
            "queryOffset": g.query_offset,
            "health": g.health,
            "lastError": g.last_error,
            "evaluationTime": g.last_duration,
            "lastEvaluation": rfc3339(g.last_evaluation),
            "rules": [dict(r) for r in g.rules],
        }
        for g in request.app[CTX].rule_health()
    ]
    return success({"groups": groups})


async def reload(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    denied = check_write(request, ctx.token)
    if denied is not None:
        return denied
    ok, errors = await ctx.reload()
    if ok:
        return success({"reloaded": True})
    # Config errors are located `path:line:col: field: message` lines; the loader keeps secrets out of them.
    return error(500, "reload_failed", f"failed to reload config: {len(errors)} error(s)", errors=list(errors))
