"""Time intervals evaluated at instants, and the load-time checks on routing configs."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest

from watchdog.alerting.config import AlertingConfig, TimeIntervalSpec, check_alerting
from watchdog.alerting.timeintervals import is_muted, spec_contains


def at(text: str) -> float:
    return datetime.fromisoformat(text).replace(tzinfo=timezone.utc).timestamp()


def spec(**kw) -> TimeIntervalSpec:
    return TimeIntervalSpec.model_validate(kw)


@pytest.mark.parametrize("fields, instant, expected", [
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2024-03-04T09:00:00", True),
    ({"times": [{"start_time": "09:00", "end_time": "17:00"}]}, "2024-03-04T17:00:00", False),   # end is exclusive
    ({"weekdays": ["monday:friday"]}, "2024-03-04T12:00:00", True),                              # a Monday
    ({"weekdays": ["monday:friday"]}, "2024-03-03T12:00:00", False),                             # a Sunday
    ({"days_of_month": ["-1"]}, "2024-02-29T12:00:00", True),                                    # last day, leap year
    ({"days_of_month": ["-1"]}, "2024-02-28T12:00:00", False),
    ({"days_of_month": ["1:5", "-3:-1"]}, "2024-04-28T00:00:00", True),
    ({"months": ["january:march"], "years": ["2023:2024"]}, "2024-01-10T00:00:00", True),
    ({"times": [{"start_time": "09:00", "end_time": "10:00"}], "location": "Europe/Berlin"}, "2024-07-01T07:30:00", True),
    ({"times": [{"start_time": "09:00", "end_time": "10:00"}], "location": "Europe/Berlin"}, "2024-07-01T09:30:00", False),
])
def test_spec_contains(fields, instant, expected):
    assert spec_contains(spec(**fields), at(instant)) is expected


def test_is_muted_reasons():
    class Interval:
        def __init__(self, *specs):
            self.time_intervals = list(specs)

    nights = {"nights": Interval(spec(times=[{"start_time": "22:00", "end_time": "24:00"}]))}
    assert is_muted(["nights"], [], nights, at("2024-01-01T23:00:00")) == "mute_time_interval nights"
    assert is_muted(["nights"], [], nights, at("2024-01-01T12:00:00")) is None
    assert is_muted([], ["nights"], nights, at("2024-01-01T12:00:00")) == "outside active_time_intervals"
    assert is_muted([], ["nights"], nights, at("2024-01-01T23:00:00")) is None


def _problems(extra: dict) -> list[str]:
    am = AlertingConfig.model_validate({"route": {"receiver": "r"}, "receivers": [{"name": "r"}], **extra})
    return [msg for _, msg, warning in check_alerting(am) if not warning]


def test_empty_and_overlapping_time_intervals_are_rejected():
    assert _problems({"time_intervals": [{"name": "never", "time_intervals": []}]}) == [
        "time interval 'never' is empty: it would never match"]
    overlapping = {"name": "x", "time_intervals": [{"times": [{"start_time": "09:00", "end_time": "12:00"},
                                                              {"start_time": "11:00", "end_time": "13:00"}]}]}
    assert _problems({"time_intervals": [overlapping]}) == ["times[1] overlaps times[0]"]


@pytest.mark.parametrize("fields, message", [
    ({"location": "Mars/Olympus"}, "unknown time zone"),
    ({"weekdays": ["funday"]}, "invalid weekday"),
    ({"days_of_month": ["0"]}, "out of range"),
    ({"times": [{"start_time": "10:00", "end_time": "09:00"}]}, "start_time must be before end_time"),
])
def test_bad_time_interval_fields_are_rejected(fields, message):
    with pytest.raises(ValueError, match=message):
        spec(**fields)
