from __future__ import annotations

import math

import pytest

from watchdog.api.format import BadParameter, alert_json, float_string, float_string_exp, parse_int, parse_step, parse_time, rfc3339
from watchdog.api.query import format_result
from watchdog.api.server import parse_listen
from watchdog.model import Alert, AlertState, Labels, Sample


@pytest.mark.parametrize(
    "value, plain, exp",
    [
        (1.0, "1", "1e+00"),
        (0.5, "0.5", "5e-01"),
        (123.45, "123.45", "1.2345e+02"),
        (0.0, "0", "0e+00"),
        (-2.5, "-2.5", "-2.5e+00"),
        (math.inf, "+Inf", "+Inf"),
        (-math.inf, "-Inf", "-Inf"),
        (math.nan, "NaN", "NaN"),
    ],
)
def test_float_strings_match_go(value, plain, exp):
    assert float_string(value) == plain
    assert float_string_exp(value) == exp


def test_parse_time_accepts_rfc3339_and_unix():
    assert parse_time("1700000000", "t") == 1_700_000_000
    assert parse_time("1700000000.5", "t") == 1_700_000_000.5
    assert parse_time("2023-11-14T22:13:20Z", "t") == 1_700_000_000
    assert parse_time("2023-11-14T23:13:20+01:00", "t") == 1_700_000_000
    for bad in ("yesterday", "2023-11-14T22:13:20", "inf", ""):
        with pytest.raises(BadParameter):
            parse_time(bad, "since")


def test_parse_step_and_int():
    assert parse_step("15") == 15
    assert parse_step("1m") == 60
    for bad in ("0", "-1", "abc"):
        with pytest.raises(BadParameter):
            parse_step(bad)
    assert parse_int(None, "limit", 10, 1, 100) == 10
    assert parse_int("5", "limit", 10, 1, 100) == 5
    for bad in ("0", "101", "x"):
        with pytest.raises(BadParameter):
            parse_int(bad, "limit", 10, 1, 100)


def test_alert_json_shape():
    labels = Labels.of(alertname="DemoServiceDown", target="demo")
    alert = Alert(labels, {"summary": "down"}, AlertState.FIRING, active_at=1_700_000_000, value=0.0, fired_at=1_700_000_030)
    out = alert_json(alert)
    assert out == {
        "labels": {"alertname": "DemoServiceDown", "target": "demo"},
        "annotations": {"summary": "down"},
        "state": "firing",
        "activeAt": "2023-11-14T22:13:20Z",
        "firedAt": "2023-11-14T22:13:50Z",
        "resolvedAt": None,
        "value": "0e+00",
        "fingerprint": labels.fingerprint(),
    }
    assert rfc3339(None) is None


def test_format_result_kinds():
    t = 1_700_000_000.0
    assert format_result(2.0, t) == {"resultType": "scalar", "result": [1_700_000_000, "2"]}
    vec = format_result([Sample(Labels.of(__name__="up", job="a"), 1.0, t)], t)
    assert vec == {"resultType": "vector", "result": [{"metric": {"__name__": "up", "job": "a"}, "value": [1_700_000_000, "1"]}]}
    assert format_result([], t) == {"resultType": "vector", "result": []}
    assert format_result([], t, force_matrix=True) == {"resultType": "matrix", "result": []}


def test_parse_listen():
    assert parse_listen("127.0.0.1:9797") == ("127.0.0.1", 9797)
    assert parse_listen("[::1]:80") == ("::1", 80)
    assert parse_listen(":9797") == ("0.0.0.0", 9797)
    with pytest.raises(ValueError):
        parse_listen("localhost")


def test_format_result_matrix_and_vector_pairs():
    import numpy as np

    from watchdog.model import STALE_NAN
    from watchdog.promql.values import Matrix, Vector

    t = 1_700_000_000.0
    labels = Labels.of(__name__="up", job="a")
    vec = format_result(Vector([(labels, 0.25)]), t)
    assert vec["result"] == [{"metric": {"__name__": "up", "job": "a"}, "value": [1_700_000_000, "0.25"]}]
    m = Matrix([(labels, np.array([t, t + 1.5, t + 3]), np.array([1.0, STALE_NAN, 3.0]))])
    out = format_result(m, t + 3, force_matrix=True)
    assert out == {"resultType": "matrix", "result": [{"metric": {"__name__": "up", "job": "a"}, "values": [[1_700_000_000, "1"], [1_700_000_003, "3"]]}]}
    assert format_result("hi", t) == {"resultType": "string", "result": [1_700_000_000, "hi"]}
