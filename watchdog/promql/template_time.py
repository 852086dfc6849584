"""Time functions of notification templates (Alertmanager's `date`, `tz`, `since`).

Times reach templates as GoTime or as RFC 3339 strings (our alerts' `.StartsAt`
/ `.EndsAt`); both are accepted. `date` takes a Go layout ("2006-01-02 15:04:05
MST"), translated token by token; `since` never reads the clock: the renderer
passes the notice's own time as "now" (see `make_since`).

Part of watchdog.promql.template.
"""

from __future__ import annotations

import re
from datetime import datetime, timezone
from typing import Any, Callable
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from watchdog.promql.template_format import GoDuration, GoTime, go_type

_MONTHS = ("January", "February", "March", "April", "May", "June", "July", "August", "September",
           "October", "November", "December")
_DAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")

# Go layout tokens, longest first where one is a prefix of another
_LAYOUT_RE = re.compile(
    r"January|Jan|Monday|Mon|2006|06|01|02|_2|15|03|04|05|PM|pm|MST|Z07:00|Z0700|Z07|-07:00|-0700|-07"
    r"|[.,](?:000000000|000000|000|999999999|999999|999)|1|2|3|4|5"
)


def to_go_time(t: Any) -> GoTime:
    if isinstance(t, GoTime):
        return t
    if isinstance(t, str):
        try:
            parsed = datetime.fromisoformat(t.replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"parsing time {t!r}: not an RFC 3339 time") from None
        if parsed.tzinfo is None:
            parsed = parsed.replace(tzinfo=timezone.utc)
        delta = parsed - datetime(1970, 1, 1, tzinfo=timezone.utc)
        nanos = (delta.days * 86400 + delta.seconds) * 1_000_000_000 + delta.microseconds * 1000
        offset = int(parsed.utcoffset().total_seconds())  # type: ignore[union-attr]
        return GoTime(nanos, "UTC" if offset == 0 else "", offset)
    raise TypeError(f"wrong type for value; expected time.Time; got {go_type(t)}")


def go_date(layout: Any, t: Any) -> str:
    """Alertmanager's `date`: t.Format(layout) with Go's reference-time layout."""
    if not isinstance(layout, str):
        raise TypeError(f"wrong type for value; expected string; got {go_type(layout)}")
    gt = to_go_time(t)
    wall = gt.local()
    nanos = gt.unix_nanos % 1_000_000_000

    def token(m: re.Match[str]) -> str:
        tok = m.group()
        hour12 = wall.hour % 12 or 12
        sign = "-" if gt.offset < 0 else "+"
        oh, om = divmod(abs(gt.offset) // 60, 60)
        simple = {
            "January": _MONTHS[wall.month - 1], "Jan": _MONTHS[wall.month - 1][:3],
            "Monday": _DAYS[wall.weekday()], "Mon": _DAYS[wall.weekday()][:3],
            "2006": f"{wall.year:04d}", "06": f"{wall.year % 100:02d}", "01": f"{wall.month:02d}", "1": str(wall.month),
            "02": f"{wall.day:02d}", "2": str(wall.day), "_2": f"{wall.day:>2d}", "15": f"{wall.hour:02d}",
            "03": f"{hour12:02d}", "3": str(hour12), "04": f"{wall.minute:02d}", "4": str(wall.minute),
            "05": f"{wall.second:02d}", "5": str(wall.second), "PM": "PM" if wall.hour >= 12 else "AM",
            "pm": "pm" if wall.hour >= 12 else "am", "MST": gt.zone or f"{sign}{oh:02d}{om:02d}",
            "-07:00": f"{sign}{oh:02d}:{om:02d}", "-0700": f"{sign}{oh:02d}{om:02d}", "-07": f"{sign}{oh:02d}",
        }
        if tok in simple:
            return simple[tok]
        if tok.startswith("Z"):
            if gt.offset == 0:
                return "Z"
            return simple["-" + tok[1:]]
        digits = len(tok) - 1     # fractional seconds: .000 fixed width, .999 trailing zeros trimmed
        frac = f"{nanos:09d}"[:digits]
        if tok[1] == "9":
            frac = frac.rstrip("0")
            return tok[0] + frac if frac else ""
        return tok[0] + frac

    return _LAYOUT_RE.sub(token, layout)


def time_in_zone(name: Any, t: Any) -> GoTime:
    """Alertmanager's `tz`: the same instant in the IANA zone `name`."""
    if not isinstance(name, str):
        raise TypeError(f"wrong type for value; expected string; got {go_type(name)}")
    gt = to_go_time(t)
    if name in ("", "UTC"):
        return GoTime(gt.unix_nanos)
    try:
        zone = ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ValueError(f"unknown time zone {name}") from None
    instant = datetime.fromtimestamp(gt.unix_nanos // 1_000_000_000, timezone.utc).astimezone(zone)
    offset = int(instant.utcoffset().total_seconds())  # type: ignore[union-attr]
    return GoTime(gt.unix_nanos, instant.tzname() or name, offset)


def since(t: Any) -> GoDuration:
    raise ValueError("since is not available here (no notification time)")


def make_since(now: float) -> Callable[[Any], GoDuration]:
    """`since` measured against `now` (unix seconds) given by the caller, not the wall clock."""

    def since_now(t: Any) -> GoDuration:
        return GoDuration(now - to_go_time(t).unix_nanos / 1e9)

    return since_now
