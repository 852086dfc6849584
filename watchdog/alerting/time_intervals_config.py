"""Alertmanager's `time_intervals` shapes: times, weekdays, days of month (negative too),
months, years, location. Evaluation is `watchdog.alerting.timeintervals`.

Split out of `watchdog.alerting.config` (which re-exports every name).
"""

from __future__ import annotations

import re

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

_STRICT = ConfigDict(extra="forbid", populate_by_name=True)


_WEEKDAYS = ("sunday", "monday", "tuesday", "wednesday", "thursday", "friday", "saturday")
_MONTHS = ("january", "february", "march", "april", "may", "june", "july", "august",
           "september", "october", "november", "december")
_HHMM = re.compile(r"^([0-9]{2}):([0-9]{2})$")


def _minutes(text: str) -> int:
    m = _HHMM.match(text)
    if not m or int(m.group(2)) > 59 or int(m.group(1)) * 60 + int(m.group(2)) > 24 * 60:
        raise ValueError(f"invalid time {text!r}: use HH:MM between 00:00 and 24:00")
    return int(m.group(1)) * 60 + int(m.group(2))


def _range_bounds(text: str, names: tuple[str, ...], lo: int, hi: int, what: str) -> tuple[int, int]:
    """Alertmanager's inclusive ranges: `monday:friday`, `1:5`, `-3:-1`, `march`, `2024`."""
    parts = text.strip().lower().split(":")
    if len(parts) > 2 or not all(parts):
        raise ValueError(f"invalid {what} range {text!r}")

    def one(p: str) -> int:
        if p in names:
            return names.index(p) + (0 if what == "weekday" else 1)
        try:
            n = int(p)
        except ValueError:
            raise ValueError(f"invalid {what} {p!r}") from None
        if not lo <= n <= hi or (what == "day of month" and n == 0):
            raise ValueError(f"{what} {n} is out of range {lo}..{hi}")
        return n

    start, end = one(parts[0]), one(parts[-1])
    if (start >= 0) == (end >= 0) and start > end:
        raise ValueError(f"{what} range {text!r} ends before it starts")
    return start, end


class TimeRange(BaseModel):
    model_config = _STRICT
    start_time: str
    end_time: str

    @model_validator(mode="after")
    def _ordered(self) -> "TimeRange":
        if _minutes(self.start_time) >= _minutes(self.end_time):
            raise ValueError("start_time must be before end_time")
        return self


class TimeIntervalSpec(BaseModel):
    """One Alertmanager time interval: every listed field must match (an absent field matches all)."""

    model_config = _STRICT
    times: list[TimeRange] = []
    weekdays: list[str] = []
    days_of_month: list[str] = []
    months: list[str] = []
    years: list[str] = []
    location: str = "UTC"

    @field_validator("weekdays")
    @classmethod
    def _weekdays(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, _WEEKDAYS, 0, 6, "weekday")
        return value

    @field_validator("days_of_month")
    @classmethod
    def _days(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, (), -31, 31, "day of month")
        return value

    @field_validator("months")
    @classmethod
    def _months(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, _MONTHS, 1, 12, "month")
        return value

    @field_validator("years")
    @classmethod
    def _years(cls, value: list[str]) -> list[str]:
        for text in value:
            _range_bounds(text, (), 1, 9999, "year")
        return value

    @field_validator("location")
    @classmethod
    def _location(cls, value: str) -> str:
        from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

        if value.lower() == "local":
            return value
        try:
            ZoneInfo(value)
        except (ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {value!r}") from None
        return value


class TimeInterval(BaseModel):
    model_config = _STRICT
    name: str = Field(min_length=1)
    time_intervals: list[TimeIntervalSpec] = []
