"""Remediation endpoints: runs, approvals, the kill switch, manual runs, and change events.

Reads are open unless a read token is set (the server's middleware); every
mutating handler checks the write token itself. Bad input is answered 400
with a message and never reaches the remediator.
"""

from __future__ import annotations

import dataclasses
import json
import re
from typing import Any

from aiohttp import web

from watchdog.api.auth import check_write
from watchdog.api.context import CTX
from watchdog.api.format import BadParameter, error, parse_int, parse_time, rfc3339, success

MAX_LABELS = 64
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _remediator(request: web.Request) -> Any:
    ctx = request.app[CTX]
    # None while the daemon is still starting; a reload updates its specs, never swaps it
    return getattr(ctx, "remediator", None)


def run_json(run: Any) -> dict[str, Any]:
    out = dataclasses.asdict(run)
    out["labels"] = dict(run.labels)
    for name in ("created_at", "started_at", "ended_at"):
        out[name + "_rfc3339"] = rfc3339(out[name])
    return out


async def _body(request: web.Request) -> dict[str, Any]:
    if not request.can_read_body:
        return {}
    try:
        body = json.loads(await request.read() or b"{}")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadParameter(f"request body is not valid JSON: {e}") from None
    if not isinstance(body, dict):
        raise BadParameter("body must be a JSON object")
    return body


def _who(body: dict[str, Any], default: str) -> str:
    by = body.get("by", "")
    if not isinstance(by, str):
        raise BadParameter("by: must be a string")
    return by[:256] or default


def _handler(write: bool, needs_remediator: bool = True):
    def wrap(fn):
        async def handler(request: web.Request) -> web.StreamResponse:
            if write:
                denied = check_write(request, request.app[CTX].token)
                if denied is not None:
                    return denied
            remediator = _remediator(request)
            if needs_remediator and remediator is None:
                return error(503, "unavailable", "the remediator is not running")
            try:
                return await fn(request, remediator)
            except BadParameter as e:
                return error(400, "bad_data", str(e))
        return handler
    return wrap


@_handler(write=False)
async def list_runs(request: web.Request, r: Any) -> web.Response:
    limit = parse_int(request.query.get("limit"), "limit", 100, 1, 1000)
    runs = await r.runs(spec=request.query.get("spec") or None, limit=limit)
    return success({"runs": [run_json(x) for x in runs], "kill_switch": await r.kill_switch(),
                    "awaiting_approval": [x.id for x in r.awaiting_approval()],
                    "remediations": [s.name for s in r.specs]})


@_handler(write=True)
async def approve(request: web.Request, r: Any) -> web.Response:
    from watchdog.remediate.remediator import ApprovalError, UnknownRemediation

    try:
        run_id = int(request.match_info["id"])
    except ValueError:
        return error(400, "bad_data", "run id must be an integer")
    body = await _body(request)
    try:
        run = await r.approve(run_id, _who(body, "api"))
    except UnknownRemediation as e:
        return error(404, "not_found", str(e))
    except ApprovalError as e:
        return error(409, "conflict", str(e))
    return success(run_json(run))


@_handler(write=True)
async def kill_switch_on(request: web.Request, r: Any) -> web.Response:
    await r.set_kill_switch(True, by=_who(await _body(request), "api"))
    return success({"kill_switch": True})


@_handler(write=True)
async def kill_switch_off(request: web.Request, r: Any) -> web.Response:
    await r.set_kill_switch(False, by=request.query.get("by", "")[:256] or "api")
    return success({"kill_switch": False})


@_handler(write=True)
async def run_manual(request: web.Request, r: Any) -> web.Response:
    from watchdog.remediate.remediator import UnknownRemediation

    body = await _body(request)
    labels = body.get("labels", {})
    if not isinstance(labels, dict) or len(labels) > MAX_LABELS or not all(
            isinstance(k, str) and _LABEL_NAME.match(k) and isinstance(v, str) for k, v in labels.items()):
        raise BadParameter("labels: must map label names to strings")
    dry_run = body.get("dry_run", False)
    if not isinstance(dry_run, bool):
        raise BadParameter("dry_run: must be true or false")
    try:
        run = await r.run_manual(request.match_info["name"], labels, dry_run=dry_run)
    except UnknownRemediation as e:
        return error(404, "not_found", str(e))
    return success(run_json(run), status=201 if run.status not in ("skipped",) else 200)


@_handler(write=True, needs_remediator=False)
async def add_change(request: web.Request, r: Any) -> web.Response:
    from watchdog.remediate.changes import ChangeError, change_json, parse_change, record_change

    ctx = request.app[CTX]
    body = await _body(request)
    if isinstance(body.get("time"), str):
        body = {**body, "time": parse_time(body["time"], "time")}
    try:
        change = parse_change(body, now=ctx.clock.now(), by="api")
    except ChangeError as e:
        raise BadParameter(str(e)) from None
    stored = await record_change(ctx.store, change, ctx.clock)
    return success(change_json(stored), status=201)


@_handler(write=False, needs_remediator=False)
async def list_changes(request: web.Request, r: Any) -> web.Response:
    from watchdog.remediate.changes import change_json

    ctx = request.app[CTX]
    since = parse_time(request.query["since"], "since") if request.query.get("since") else None
    limit = parse_int(request.query.get("limit"), "limit", 100, 1, 1000)
    changes = await ctx.store.changes(service=request.query.get("service") or None, since=since, limit=limit)
    return success({"changes": [change_json(c) for c in changes]})


def register(app: web.Application, ctx: Any) -> None:
    r = app.router
    r.add_get("/api/v1/remediations", list_runs)
    r.add_post("/api/v1/remediations/kill-switch", kill_switch_on)
    r.add_delete("/api/v1/remediations/kill-switch", kill_switch_off)
    r.add_post("/api/v1/remediations/{id:[0-9]+}/approve", approve)
    r.add_post("/api/v1/remediations/{name}/run", run_manual)
    r.add_get("/api/v1/changes", list_changes)
    r.add_post("/api/v1/changes", add_change)
