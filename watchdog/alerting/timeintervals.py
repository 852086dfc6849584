"""Alertmanager time intervals (`time_intervals:`), evaluated at a given instant. Pure.

An interval matches when any of its entries matches; an entry matches when
every field it lists matches (an absent field matches everything):
  - `times`: [start_time, end_time) in minutes of the day, in `location`;
  - `weekdays`, `months`, `years`: inclusive ranges (`monday:friday`, `1:3`);
  - `days_of_month`: inclusive ranges, negative values count from the end of
    the month (-1 is the last day), as Alertmanager's timeinterval package does.
"""

from __future__ import annotations

import calendar
from datetime import datetime, timezone, tzinfo
from functools import lru_cache
from typing import Any, Iterable, Mapping

_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")


@lru_cache(maxsize=64)
def zone(name: str) -> tzinfo:
    if name.lower() == "local":
        return datetime.now().astimezone().tzinfo or timezone.utc
    from zoneinfo import ZoneInfo

    return ZoneInfo(name)


def _bounds(text: str, names: tuple[str, ...], offset: int) -> tuple[int, int]:
    parts = text.strip().lower().split(":")

    def one(p: str) -> int:
        return names.index(p) + offset if p in names else int(p)

    return one(parts[0]), one(parts[-1])


def hhmm_minutes(text: str) -> int:
    h, m = text.split(":")
    return int(h) * 60 + int(m)


def _in_ranges(value: int, ranges: Iterable[str], names: tuple[str, ...], offset: int) -> bool:
    return any(lo <= value <= hi for lo, hi in (_bounds(r, names, offset) for r in ranges))


def _day_matches(day: int, days_in_month: int, ranges: Iterable[str]) -> bool:
    for text in ranges:
        lo, hi = _bounds(text, (), 0)
        # Negative days count back from the month's end; clamp as Alertmanager does.
        lo = lo + days_in_month + 1 if lo < 0 else lo
        hi = hi + days_in_month + 1 if hi < 0 else hi
        lo, hi = max(lo, 1), min(hi, days_in_month)
        if lo <= day <= hi:
            return True
    return False


def spec_contains(spec: Any, t: float) -> bool:
    """Does one entry (a TimeIntervalSpec) contain the unix time `t`?"""
    local = datetime.fromtimestamp(t, timezone.utc).astimezone(zone(spec.location))
    if spec.times:
        minute = local.hour * 60 + local.minute
        if not any(hhmm_minutes(r.start_time) <= minute < hhmm_minutes(r.end_time) for r in spec.times):
            return False
    if spec.weekdays and not _in_ranges((local.weekday() + 1) % 7, spec.weekdays, _WEEKDAYS, 0):
        return False
    if spec.days_of_month:
        days = calendar.monthrange(local.year, local.month)[1]
        if not _day_matches(local.day, days, spec.days_of_month):
            return False
    if spec.months and not _in_ranges(local.month, spec.months, _MONTHS, 1):
        return False
    if spec.years and not _in_ranges(local.year, spec.years, (), 0):
        return False
    return True


def interval_contains(interval: Any, t: float) -> bool:
    """A named TimeInterval contains `t` when any of its entries does."""
    return any(spec_contains(spec, t) for spec in interval.time_intervals)


def any_active(names: Iterable[str], intervals: Mapping[str, Any], t: float) -> bool:
    """True when any of the named intervals contains `t` (unknown names never match)."""
    return any(name in intervals and interval_contains(intervals[name], t) for name in names)


def is_muted(mute: Iterable[str], active: Iterable[str], intervals: Mapping[str, Any], t: float) -> str | None:
    """Why a route's notifications are held at `t` ("mute_time_interval NAME" / "outside active_time_intervals"), or None."""
    for name in mute:
        if name in intervals and interval_contains(intervals[name], t):
            return f"mute_time_interval {name}"
    active = list(active)
    if active and not any_active(active, intervals, t):
        return "outside active_time_intervals"
    return None


def overlapping_times(spec: Any) -> tuple[int, int] | None:
    """Indexes of the first two `times` ranges of one entry that overlap, or None."""
    ranges = sorted((hhmm_minutes(r.start_time), hhmm_minutes(r.end_time), i) for i, r in enumerate(spec.times))
    for (s1, e1, i1), (s2, e2, i2) in zip(ranges, ranges[1:]):
        if s2 < e1:
            return min(i1, i2), max(i1, i2)
    return None
