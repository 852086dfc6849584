"""Prometheus's JSON conventions: the envelope, times, float strings, parameter parsing."""

from __future__ import annotations

import math
from datetime import datetime, timezone
from typing import Any, Mapping

import numpy as np
from aiohttp import web

from watchdog.durations import parse_duration
from watchdog.model import Alert


class BadParameter(ValueError):
    """A request parameter that cannot be used; answered 400 `bad_data`."""


def success(data: Any, status: int = 200) -> web.Response:
    return web.json_response({"status": "success", "data": data}, status=status)


def error(status: int, error_type: str, message: str, **extra: Any) -> web.Response:
    body: dict[str, Any] = {"status": "error", "errorType": error_type, "error": message}
    body.update(extra)
    return web.json_response(body, status=status)


def rfc3339(t: float | None) -> str | None:
    if t is None:
        return None
    return datetime.fromtimestamp(t, timezone.utc).isoformat().replace("+00:00", "Z")


def float_string(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'f', -1, 64), as Prometheus writes sample values."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_positional(v, trim="-")


def float_string_exp(v: float) -> str:
    """Go's strconv.FormatFloat(v, 'e', -1, 64), as Prometheus writes alert values."""
    if math.isnan(v):
        return "NaN"
    if math.isinf(v):
        return "+Inf" if v > 0 else "-Inf"
    return np.format_float_scientific(v, trim="-", exp_digits=2)


def parse_time(text: str, name: str) -> float:
    """RFC 3339 or unix seconds (as Prometheus's API accepts)."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        pass
    else:
        if not math.isfinite(value):
            raise BadParameter(f'invalid parameter "{name}": cannot parse {text!r} to a valid timestamp')
        return value
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
    except ValueError:
        raise BadParameter(f'invalid parameter "{name}": cannot parse {text!r} to a valid timestamp') from None
    if parsed.tzinfo is None:
        raise BadParameter(f'invalid parameter "{name}": {text!r} has no time zone (use Z or an offset)')
    return parsed.timestamp()


def parse_step(text: str, name: str = "step") -> float:
    """A float of seconds or a Prometheus duration."""
    text = text.strip()
    try:
        value = float(text)
    except ValueError:
        try:
            value = parse_duration(text)
        except ValueError:
            raise BadParameter(f'invalid parameter "{name}": cannot parse {text!r} to a valid duration') from None
    if not math.isfinite(value) or value <= 0:
        raise BadParameter(f'invalid parameter "{name}": zero or negative query resolution step widths are not accepted. Try a positive integer')
    return value


def parse_int(text: str | None, name: str, default: int, low: int, high: int) -> int:
    if text is None or text == "":
        return default
    try:
        value = int(text)
    except ValueError:
        raise BadParameter(f'invalid parameter "{name}": {text!r} is not an integer') from None
    if not low <= value <= high:
        raise BadParameter(f'invalid parameter "{name}": must be between {low} and {high}')
    return value


def alert_json(alert: Alert) -> dict[str, Any]:
    return {
        "labels": alert.labels.to_dict(),
        "annotations": dict(alert.annotations),
        "state": alert.state.value,
        "activeAt": rfc3339(alert.active_at),
        "firedAt": rfc3339(alert.fired_at),
        "resolvedAt": rfc3339(alert.resolved_at),
        "value": float_string_exp(alert.value),
        "fingerprint": alert.fingerprint,
    }


def labels_json(labels: Mapping[str, str]) -> dict[str, str]:
    return {str(k): str(v) for k, v in labels.items()}
