"""`/api/v1/query` and `/api/v1/query_range` in Prometheus's answer format."""

from __future__ import annotations

from typing import Any, Callable, Iterable

from aiohttp import web

from watchdog.api.context import CTX
from watchdog.api.format import BadParameter, error, float_string, parse_step, parse_time, success
from watchdog.model import is_stale
from watchdog.promql.errors import PromQLError, PromQLTimeout

# Prometheus refuses range queries that would return more points than this per series.
MAX_POINTS_PER_SERIES = 11_000
MAX_QUERY_LENGTH = 16_384
# Prometheus's --query.timeout default; the `timeout` parameter can only lower it
DEFAULT_QUERY_TIMEOUT = 120.0


async def _params(request: web.Request) -> dict[str, str]:
    params = dict(request.query)
    if request.method == "POST" and request.content_type == "application/x-www-form-urlencoded":
        form = await request.post()
        params.update({k: str(v) for k, v in form.items()})
    return params


def _query_text(params: dict[str, str]) -> str:
    expr = params.get("query", "")
    if not expr.strip():
        raise BadParameter('invalid parameter "query": empty query')
    if len(expr) > MAX_QUERY_LENGTH:
        raise BadParameter(f'invalid parameter "query": longer than {MAX_QUERY_LENGTH} characters')
    return expr


async def instant_query(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    try:
        params = await _params(request)
        expr = _query_text(params)
        t = parse_time(params["time"], "time") if params.get("time") else ctx.clock.now()
        check = _deadline(ctx.clock, params)
    except BadParameter as exc:
        return error(400, "bad_data", str(exc))
    outcome = _run(lambda: ctx.engine.query(expr, t, check_deadline=check))
    if isinstance(outcome, web.Response):
        return outcome
    return success(format_result(outcome, t))


async def range_query(request: web.Request) -> web.Response:
    ctx = request.app[CTX]
    try:
        params = await _params(request)
        expr = _query_text(params)
        for name in ("start", "end", "step"):
            if not params.get(name):
                raise BadParameter(f'invalid parameter "{name}": missing')
        start = parse_time(params["start"], "start")
        end = parse_time(params["end"], "end")
        step = parse_step(params["step"])
        if end < start:
            raise BadParameter('invalid parameter "end": end timestamp must not be before start time')
        if (end - start) / step > MAX_POINTS_PER_SERIES:
            raise BadParameter("exceeded maximum resolution of 11,000 points per timeseries. Try decreasing the query resolution (?step=XX)")
        check = _deadline(ctx.clock, params)
    except BadParameter as exc:
        return error(400, "bad_data", str(exc))
    outcome = _run(lambda: ctx.engine.query_range(expr, start, end, step, check_deadline=check))
    if isinstance(outcome, web.Response):
        return outcome
    return success(format_result(outcome, end, force_matrix=True))


def _deadline(clock: Any, params: dict[str, str]) -> Callable[[], None]:
    """The `timeout` parameter (duration or float seconds, capped at the default) as a check the
    engine calls between units of work; it raises PromQLTimeout once the time is up."""
    timeout = DEFAULT_QUERY_TIMEOUT
    if params.get("timeout"):
        timeout = min(timeout, parse_step(params["timeout"], "timeout"))
    deadline = clock.monotonic() + timeout

    def check() -> None:
        if clock.monotonic() > deadline:
            raise PromQLTimeout(f"query timed out in expression evaluation (timeout {timeout:g}s)")

    return check


def _run(call: Callable[[], Any]) -> Any:
    """Run the engine. A parse error is the caller's (400 bad_data), as Prometheus answers;
    other evaluation errors are 422 `execution`. Anything else is a bug: the middleware's 500."""
    try:
        return call()
    except PromQLTimeout as exc:
        return error(503, "timeout", _one_line(exc))
    except PromQLError as exc:
        message = _one_line(exc)
        if message.startswith("parse error") or "unknown function" in message:
            return error(400, "bad_data", message)
        return error(422, "execution", message)


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text[:1000]


# -- result formatting ---------------------------------------------------------


def _ts(t: float) -> float | int:
    # Prometheus writes timestamps as seconds with millisecond precision.
    rounded = round(float(t), 3)
    return int(rounded) if rounded == int(rounded) else rounded


def _point(t: float, v: float) -> list[Any]:
    return [_ts(t), float_string(float(v))]


def _metric(labels: Any) -> dict[str, str]:
    return labels.to_dict() if hasattr(labels, "to_dict") else dict(labels)


def format_result(result: Any, t: float, force_matrix: bool = False) -> dict[str, Any]:
    """Turn an engine result into Prometheus's `{resultType, result}`.

    Accepts watchdog.promql's answers: a `QueryResult` (kind + vector/scalar/
    matrix/string) from `Engine.query`, and the `[(labels, [(t, v), ...])]`
    list from `Engine.query_range`; plain floats, strs, `Sample`s, (labels,
    value) pairs and (labels, timestamps, values) triples are accepted too. A
    range query asks for a matrix whatever the expression's type (as Prometheus answers).
    """
    kind = getattr(result, "kind", None)
    if kind == "scalar":
        result = result.scalar
    elif kind == "string":
        result = result.string
    elif kind == "vector":
        result = result.vector
    elif kind == "matrix":
        return {"resultType": "matrix", "result": [_series(labels, points) for labels, points in result.matrix]}
    if isinstance(result, bool):
        result = float(result)
    if isinstance(result, (int, float)):
        if force_matrix:
            return {"resultType": "matrix", "result": [{"metric": {}, "values": [_point(t, result)]}]}
        return {"resultType": "scalar", "result": _point(t, result)}
    if isinstance(result, str):
        return {"resultType": "string", "result": [_ts(t), result]}
    items = list(result or [])
    if not items:
        is_matrix = force_matrix or kind == "matrix" or type(result).__name__ == "Matrix"
        return {"resultType": "matrix" if is_matrix else "vector", "result": []}
    first = items[0]
    if isinstance(first, tuple) and not hasattr(first, "value"):
        if len(first) == 3:
            return {"resultType": "matrix", "result": [_series(lab, zip(ts, vs)) for lab, ts, vs in items]}
        if not isinstance(first[1], (int, float)):
            return {"resultType": "matrix", "result": [_series(lab, points) for lab, points in items]}
    vector = []
    for item in items:
        labels, value = (item.labels, item.value) if hasattr(item, "value") else item
        vector.append({"metric": _metric(labels), "value": _point(t, value)})
    if force_matrix:
        return {"resultType": "matrix", "result": [{"metric": v["metric"], "values": [v["value"]]} for v in vector]}
    return {"resultType": "vector", "result": vector}


def _series(labels: Any, points: Iterable[tuple[float, float]]) -> dict[str, Any]:
    return {"metric": _metric(labels), "values": [_point(ts, v) for ts, v in points if not is_stale(float(v))]}
