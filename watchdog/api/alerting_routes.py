"""Routing endpoints: groups and acks, silences, and Alertmanager's alert intake (`POST /api/v2/alerts`).

Reads are open unless a read token is set (the server's middleware); every
handler here that changes something checks the write token itself. Bad input
is answered 400 with a message; it never reaches the dispatcher.
"""

from __future__ import annotations

import json
import math
import re
from typing import Any, Callable

from aiohttp import web

from watchdog.alerting.controls import AckError
from watchdog.alerting.silences import SilenceError
from watchdog.api.auth import check_write
from watchdog.api.context import CTX
from watchdog.api.format import BadParameter, error, parse_time, success
from watchdog.durations import parse_duration
from watchdog.model import Alert, AlertState, Labels

MAX_ALERTS_PER_POST = 10_000
_LABEL_NAME = re.compile(r"^[a-zA-Z_][a-zA-Z0-9_]*$")


def _dispatcher(request: web.Request) -> Any:
    # None while the daemon is still starting (the handlers answer 503 then)
    return getattr(request.app[CTX], "dispatcher", None)


def _unavailable() -> web.Response:
    return error(503, "unavailable", "the notification dispatcher is not running")


async def _json_body(request: web.Request) -> Any:
    try:
        return json.loads(await request.read() or b"null")
    except (json.JSONDecodeError, UnicodeDecodeError) as e:
        raise BadParameter(f"request body is not valid JSON: {e}") from None


def _time(value: Any, name: str) -> float:
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        if not math.isfinite(value):
            raise BadParameter(f"{name}: not a finite time")
        return float(value)
    if isinstance(value, str) and value:
        return parse_time(value, name)
    raise BadParameter(f"{name}: expected an RFC 3339 time or unix seconds")


def _str(body: dict[str, Any], name: str, limit: int = 4096) -> str:
    value = body.get(name, "")
    if not isinstance(value, str):
        raise BadParameter(f"{name}: must be a string")
    return value[:limit]


def _guard(handler: Callable[..., Any]) -> Callable[[web.Request], Any]:
    async def wrapped(request: web.Request) -> web.StreamResponse:
        dispatcher = _dispatcher(request)
        if dispatcher is None:
            return _unavailable()
        try:
            return await handler(request, dispatcher)
        except (BadParameter, SilenceError, AckError) as e:
            return error(400, "bad_data", str(e))

    return wrapped


def _write_denied(request: web.Request) -> web.Response | None:
    return check_write(request, request.app[CTX].token)


# -- groups and acks ------------------------------------------------------------
@_guard
async def list_groups(request: web.Request, d: Any) -> web.Response:
    storms = d.storms() if hasattr(d, "storms") else []
    return success({"groups": d.groups(), "storms": storms})


@_guard
async def ack_group(request: web.Request, d: Any) -> web.Response:
    denied = _write_denied(request)
    if denied is not None:
        return denied
    body = await _json_body(request) if request.can_read_body else {}
    body = body or {}
    if not isinstance(body, dict):
        raise BadParameter("body must be a JSON object {by, comment, expires_at | duration}")
    now = request.app[CTX].clock.now()
    expires_at = None
    if body.get("expires_at") not in (None, ""):
        expires_at = _time(body["expires_at"], "expires_at")
    elif body.get("duration") not in (None, ""):
        expires_at = now + _duration(body["duration"])
    group = await d.acknowledge(request.match_info["id"], _str(body, "by", 256) or "api", _str(body, "comment"), expires_at)
    if group is None:
        return error(404, "not_found", f"no alert group {request.match_info['id']!r}")
    return success(group)


@_guard
async def unack_group(request: web.Request, d: Any) -> web.Response:
    denied = _write_denied(request)
    if denied is not None:
        return denied
    removed = await d.unacknowledge(request.match_info["id"], by=request.query.get("by", ""))
    if removed is None:
        return error(404, "not_found", f"no alert group {request.match_info['id']!r}")
    return success({"unacknowledged": removed})


def _duration(value: Any) -> float:
    try:
        seconds = parse_duration(str(value))
    except ValueError:
        raise BadParameter(f"duration: cannot parse {value!r} (use e.g. 30m, 2h)") from None
    if seconds <= 0:
        raise BadParameter("duration: must be greater than 0s")
    return seconds


# -- silences -------------------------------------------------------------------------
@_guard
async def list_silences(request: web.Request, d: Any) -> web.Response:
    return success({"silences": d.silences()})


def _matcher_texts(raw: Any) -> list[str]:
    """Matcher strings, or Alertmanager's objects {name, value, isRegex, isEqual}."""
    if not isinstance(raw, list) or not raw:
        raise BadParameter("matchers: a non-empty list is required")
    out = []
    for m in raw:
        if isinstance(m, str):
            out.append(m)
        elif isinstance(m, dict) and isinstance(m.get("name"), str) and isinstance(m.get("value"), str):
            op = ("=~" if m.get("isRegex") else "=") if m.get("isEqual", True) else ("!~" if m.get("isRegex") else "!=")
            value = m["value"].replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")
            out.append(f'"{m["name"]}"{op}"{value}"')
        else:
            raise BadParameter("matchers: each entry is a matcher string or {name, value, isRegex, isEqual}")
    return out


@_guard
async def create_silence(request: web.Request, d: Any) -> web.Response:
    denied = _write_denied(request)
    if denied is not None:
        return denied
    body = await _json_body(request)
    if not isinstance(body, dict):
        raise BadParameter("body must be a JSON object {matchers, startsAt, endsAt | duration, createdBy, comment}")
    now = request.app[CTX].clock.now()
    starts = _time(body["startsAt"], "startsAt") if body.get("startsAt") not in (None, "") else now
    if body.get("endsAt") not in (None, ""):
        ends = _time(body["endsAt"], "endsAt")
    elif body.get("duration") not in (None, ""):
        ends = starts + _duration(body["duration"])
    else:
        raise BadParameter("endsAt or duration is required")
    silence_id = body.get("id") or None
    if silence_id is not None and not isinstance(silence_id, str):
        raise BadParameter("id: must be a string")
    silence = await d.add_silence(_matcher_texts(body.get("matchers")), starts, ends,
                                  _str(body, "createdBy", 256), _str(body, "comment"), silence_id)
    return success({"silenceID": silence["id"], "silence": silence})


@_guard
async def delete_silence(request: web.Request, d: Any) -> web.Response:
    denied = _write_denied(request)
    if denied is not None:
        return denied
    sid = request.match_info["id"]
    if not any(s["id"] == sid for s in d.silences()):
        return error(404, "not_found", f"no silence with id {sid!r}")
    return success(await d.expire_silence(sid))


# -- Alertmanager's intake ---------------------------------------------------------------
def alerts_from_v2(body: Any, now: float) -> list[Alert]:
    """Alertmanager API v2 `postableAlerts` -> Alerts (firing unless endsAt has passed). Raises BadParameter."""
    return parse_v2_alerts(body, now)[0]


def parse_v2_alerts(body: Any, now: float) -> tuple[list[Alert], dict[str, float]]:
    """(alerts, fingerprint -> endsAt of the firing ones that gave one). Raises BadParameter.

    As in Alertmanager, a firing alert with an `endsAt` resolves then unless it is
    sent again (Prometheus re-sends with a later endsAt while the alert fires);
    one without resolves `global.resolve_timeout` after it was last sent."""
    if not isinstance(body, list):
        raise BadParameter("body must be a JSON list of alerts")
    if len(body) > MAX_ALERTS_PER_POST:
        raise BadParameter(f"at most {MAX_ALERTS_PER_POST} alerts per request")
    out = []
    ends_at: dict[str, float] = {}
    for i, raw in enumerate(body):
        if not isinstance(raw, dict):
            raise BadParameter(f"alerts[{i}]: must be an object")
        labels = raw.get("labels")
        if not isinstance(labels, dict) or not labels:
            raise BadParameter(f"alerts[{i}].labels: at least one label is required")
        for k, v in labels.items():
            if not isinstance(v, str) or not _LABEL_NAME.match(str(k)):
                raise BadParameter(f"alerts[{i}].labels: invalid label {str(k)[:100]!r}")
        annotations = raw.get("annotations") or {}
        if not isinstance(annotations, dict) or not all(isinstance(v, str) for v in annotations.values()):
            raise BadParameter(f"alerts[{i}].annotations: must map names to strings")
        starts = _time(raw["startsAt"], f"alerts[{i}].startsAt") if raw.get("startsAt") else now
        ends = _time(raw["endsAt"], f"alerts[{i}].endsAt") if raw.get("endsAt") else None
        if ends is not None and ends < starts:
            raise BadParameter(f"alerts[{i}]: endsAt is before startsAt")
        resolved = ends is not None and ends <= now
        generator = raw.get("generatorURL") or ""
        alert = Alert(
            labels=Labels.of({str(k): v for k, v in labels.items()}), annotations={str(k): v for k, v in annotations.items()},
            state=AlertState.RESOLVED if resolved else AlertState.FIRING, active_at=starts, fired_at=starts,
            resolved_at=ends if resolved else None, generator="api", generator_url=str(generator)[:2048],
        )
        out.append(alert)
        if ends is not None and not resolved:
            ends_at[alert.fingerprint] = ends
    return out, ends_at


@_guard
async def post_alerts_v2(request: web.Request, d: Any) -> web.Response:
    denied = _write_denied(request)
    if denied is not None:
        return denied
    ctx = request.app[CTX]
    now = ctx.clock.now()
    alerts, ends_at = parse_v2_alerts(await _json_body(request), now)
    await d.on_alerts(alerts, now, valid_until=ends_at)
    remediator = getattr(ctx, "remediator", None)
    if remediator is not None:
        await remediator.on_alerts(alerts, now)
    return success({"received": len(alerts)})


def register(app: web.Application, ctx: Any = None) -> None:
    """Add the routing endpoints to the API application (the context is the app's CTX)."""
    r = app.router
    r.add_get("/api/v1/groups", list_groups)
    r.add_post("/api/v1/groups/{id}/ack", ack_group)
    r.add_delete("/api/v1/groups/{id}/ack", unack_group)
    r.add_get("/api/v1/silences", list_silences)
    r.add_post("/api/v1/silences", create_silence)
    r.add_delete("/api/v1/silences/{id}", delete_silence)
    r.add_post("/api/v2/alerts", post_alerts_v2)
