"""Prometheus-style durations: "5s", "1m30s", "2h", "500ms", "7d", "1w", "1y".

Used by every config model through the `Duration` annotated type (value in
float seconds); plain numbers are taken as seconds.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BeforeValidator, PlainSerializer

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0, "y": 31536000.0}
_ORDER = ["y", "w", "d", "h", "m", "s", "ms"]
_DURATION_RE = re.compile(r"^(?:([0-9]+)y)?(?:([0-9]+)w)?(?:([0-9]+)d)?(?:([0-9]+)h)?(?:([0-9]+)m)?(?:([0-9]+)s)?(?:([0-9]+)ms)?$")


def parse_duration(value: Any) -> float:
    """Seconds as float; raises ValueError with a message fit for a config error."""
    if isinstance(value, bool):
        raise ValueError(f"invalid duration {value!r}")
    if isinstance(value, (int, float)):
        if value < 0:
            raise ValueError("duration must not be negative")
        return float(value)
    if not isinstance(value, str):
        raise ValueError("duration must be a string like 30s, 5m or 1h30m")
    text = value.strip()
    if text == "0":
        return 0.0
    m = _DURATION_RE.match(text)
    if not text or not m or not any(m.groups()):
        raise ValueError(f"invalid duration {value!r} (use e.g. 500ms, 30s, 5m, 1h30m, 7d)")
    total = 0.0
    for unit, group in zip(_ORDER, m.groups()):
        if group:
            total += int(group) * _UNITS[unit]
    return total


def format_duration(seconds: float) -> str:
    """Inverse of parse_duration for display: 90 -> "1m30s", 0.5 -> "500ms", 0 -> "0s"."""
    if seconds <= 0:
        return "0s"
    ms = round(seconds * 1000)
    out = ""
    for unit in _ORDER:
        size = round(_UNITS[unit] * 1000)
        if ms >= size:
            n, ms = divmod(ms, size)
            out += f"{n}{unit}"
    return out or "0s"


Duration = Annotated[float, BeforeValidator(parse_duration), PlainSerializer(format_duration, return_type=str)]


def _positive(seconds: float) -> float:
    if seconds <= 0:
        raise ValueError("must be greater than 0s")
    return seconds


# a timeout, interval or window: zero would mean "never" or "always", so it is refused
PositiveDuration = Annotated[Duration, AfterValidator(_positive)]
