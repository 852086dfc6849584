"""Nagios output / perfdata and Prometheus exposition parsing."""

from __future__ import annotations

import math

import pytest

from watchdog.probes.exposition import ExpositionError, parse_exposition, parse_series_key
from watchdog.probes.nagios import nagios_status, parse_output, parse_perfdata


def test_nagios_first_line_and_perfdata_in_base_units():
    msg, perf = parse_output("DISK WARNING - free space: / 120 MB | '/ used'=880MB;900;950;0;1000 time=12ms load1=0.5\nmore text\n| rss=2KB;;;")
    assert msg == "DISK WARNING - free space: / 120 MB"
    assert perf == [("/ used", 880 * 1024**2), ("time", pytest.approx(0.012)), ("load1", 0.5), ("rss", 2048.0)]


def test_perfdata_quoting_units_and_garbage():
    assert parse_perfdata("'it''s'=1c 'a b'=50% t=3us x=U bad y=2s") == [("it's", 1.0), ("a b", 50.0), ("t", pytest.approx(3e-6)), ("y", 2.0)]
    assert parse_perfdata("weird=5furlongs ok=1") == [("ok", 1.0)]
    assert parse_output("") == ("", [])


@pytest.mark.parametrize("rc, status", [(0, 0), (1, 1), (2, 2), (3, 3), (4, 3), (127, 3), (-9, 3), (None, 3)])
def test_nagios_exit_codes(rc, status):
    assert nagios_status(rc) == status


def test_exposition_text_and_openmetrics():
    text = (
        "# HELP http_requests_total The total.\n# TYPE http_requests_total counter\n"
        'http_requests_total{method="post",code="200"} 1027 1395066363000\n'
        'http_requests_total{method="post",code="400"}    3 1395066363000\n'
        'msdos_file_access_time_seconds{path="C:\\\\DIR\\\\FILE.TXT",error="Cannot find file:\\n\\"FILE.TXT\\""} 1.458255915e9\r\n'
        "metric_without_timestamp_and_labels 12.47\n"
        "something_weird{problem=\"division by zero\"} +Inf -3982045\n"
        'h_bucket{le="+Inf"} 144320 # {trace_id="KOO5S4vxi0o"} 0.67\n'
        "nan_metric NaN\nneg -Inf\n# EOF\n"
    )
    parsed = parse_exposition(text)
    assert len(parsed) == 8
    keys = [k for k, _ in parsed]
    assert parse_series_key(keys[2]) == ("msdos_file_access_time_seconds", [("path", "C:\\DIR\\FILE.TXT"), ("error", 'Cannot find file:\n"FILE.TXT"')])
    assert parsed[1][1] == 3.0 and parsed[4][1] == math.inf and parsed[7][1] == -math.inf and math.isnan(parsed[6][1])
    assert parse_series_key("up") == ("up", [])


@pytest.mark.parametrize(
    "text, message",
    [
        ("ok 1\nbad line here\n", "line 2: invalid sample line 'bad line here'"),
        ("x 1_000\n", "line 1: invalid value '1_000'"),
        ("x abc\n", "line 1: invalid value 'abc'"),
        ("x 1 notatime\n", "line 1: invalid sample line 'x 1 notatime'"),
        ('x{a="1} 2\n', "line 1: invalid sample line 'x{a=\"1} 2'"),
        ("x 1\n# EOF\ny 2\n", "line 3: content after # EOF"),
    ],
)
def test_exposition_errors_name_the_line(text, message):
    with pytest.raises(ExpositionError) as e:
        parse_exposition(text)
    assert str(e.value) == message


def test_series_key_errors():
    with pytest.raises(ValueError, match="duplicate label 'a'"):
        parse_series_key('x{a="1",a="2"}')
    with pytest.raises(ValueError, match="invalid labels"):
        parse_series_key('x{a="1" b="2"}')
    assert parse_series_key('x{a="1",}') == ("x", [("a", "1")])
