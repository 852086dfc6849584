"""The deeper language, checked against values worked out by hand from Prometheus's definitions."""

import math

import pytest

from watchdog.model import Labels
from watchdog.promql import Engine, PromQLError
from watchdog.tsdb import SeriesStore


def L(name, **kw):
    return Labels.of({"__name__": name, **kw})


def load(series: dict, step: float = 60.0) -> Engine:
    s = SeriesStore()
    for labels, values in series.items():
        for i, v in enumerate(values):
            if v is not None:
                s.append(labels, v, i * step)
    return Engine(s)


def one(engine, expr, t):
    got = engine.vector(expr, t)
    assert len(got) == 1, got
    return got[0]


def test_rate_with_counter_reset_and_extrapolation():
    e = load({L("c_total", job="x"): [0, 10, 20, 5, 15]})
    # window (0, 240]: samples at 60..240 -> 10 20 5 15; raw delta 5 + reset 20 = 25 over 180 s.
    # The first sample is 60 s from the window start (< 1.1 x the 60 s spacing), so extrapolate all 60 s
    # (the zero point, 10/25*180 = 72 s back, is further away); the last sample is at the end.
    assert one(e, "increase(c_total[4m])", 240).value == pytest.approx(25 * 240 / 180)
    assert one(e, "rate(c_total[4m])", 240).value == pytest.approx(25 * 240 / 180 / 240)
    # at 270 the window (30, 270] ends 30 s after the last sample: extrapolate 30 s there too
    assert one(e, "increase(c_total[4m])", 270).value == pytest.approx(25 * (30 + 180 + 30) / 180)
    assert one(e, "irate(c_total[4m])", 240).value == pytest.approx(10 / 60)
    assert one(e, "resets(c_total[10m])", 240).value == 1
    assert one(e, "changes(c_total[10m])", 240).value == 4
    assert "__name__" not in one(e, "rate(c_total[4m])", 240).labels


def test_over_time_offset_at_and_subquery():
    e = load({L("g"): [1, 2, 3, 4, 5, 6]})
    assert one(e, "max_over_time(g[2m])", 300).value == 6
    assert one(e, "avg_over_time(g[3m] offset 1m)", 300).value == 4  # (120,240]: 3 4 5
    assert one(e, "g @ 60", 300).value == 2
    assert one(e, "last_over_time(g[1m] @ 180)", 0).labels.metric_name == "g"
    assert one(e, "sum_over_time(g[5m:1m])", 300).value == 2 + 3 + 4 + 5 + 6
    assert one(e, "min_over_time(rate(g[2m])[3m:1m])", 300).value == pytest.approx(1 / 60)
    assert one(e, "quantile_over_time(0.5, g[10m])", 300).value == 3.5
    assert one(e, "deriv(g[5m])", 300).value == pytest.approx(1 / 60)
    assert one(e, "predict_linear(g[5m], 60)", 300).value == pytest.approx(7)
    assert one(e, "timestamp(g)", 330).value == 300
    assert one(e, "absent_over_time(nope[5m])", 300).value == 1
    assert e.vector("present_over_time(g[1m])", 1000) == []


def test_histogram_quantile_classic_buckets():
    e = load({
        L("lat_bucket", le="0.1"): [0, 10],
        L("lat_bucket", le="0.5"): [0, 30],
        L("lat_bucket", le="+Inf"): [0, 40],
    })
    # rank 0.5*40 = 20 falls in (0.1, 0.5]: 0.1 + 0.4 * (20-10)/(30-10)
    assert one(e, "histogram_quantile(0.5, lat_bucket)", 60).value == pytest.approx(0.3)
    assert one(e, "histogram_quantile(0.99, lat_bucket)", 60).value == pytest.approx(0.5)
    assert math.isnan(one(e, "histogram_quantile(0.5, lat_bucket)", 0).value)
    assert one(e, "histogram_fraction(0, 0.1, lat_bucket)", 60).value == pytest.approx(0.25)


def test_label_functions_sorting_and_topk():
    e = load({L("m", a="x-1"): [3], L("m", a="y-2"): [1], L("m", a="z-3"): [2]})
    got = one(e, 'label_replace(m{a="x-1"}, "n", "$2", "a", "(\\\\w)-(\\\\d)")', 0)
    assert got.labels.get("n") == "1" and got.labels.metric_name == "m"
    assert one(e, 'label_join(m{a="y-2"}, "j", "+", "a", "a")', 0).labels.get("j") == "y-2+y-2"
    assert [s.value for s in e.vector("sort_desc(m)", 0)] == [3, 2, 1]
    assert [s.labels.get("a") for s in e.vector("topk(2, m)", 0)] == ["x-1", "z-3"]
    assert [s.value for s in e.vector("bottomk(1, m)", 0)] == [1]
    assert one(e, "quantile(0.5, m)", 0).value == 2
    assert one(e, "stddev(m)", 0).value == pytest.approx(math.sqrt(2 / 3))
    assert sorted(s.labels.get("v") for s in e.vector('count_values("v", m)', 0)) == ["1", "2", "3"]
    assert one(e, "group(m)", 0).value == 1
    assert one(e, "clamp(m{a='x-1'}, 0, 2.5)", 0).value == 2.5
    assert one(e, "round(m{a='y-2'} / 3, 0.1)", 0).value == pytest.approx(0.3)
    with pytest.raises(PromQLError, match="same labelset"):
        e.vector('label_replace(m, "a", "same", "a", ".*")', 0)


def test_group_left_copies_labels_and_time_functions():
    e = load({
        L("req", instance="a", code="200"): [5],
        L("req", instance="a", code="500"): [1],
        L("info", instance="a", version="v2"): [1],
    })
    got = {s.labels.get("code"): s for s in e.vector("req * on(instance) group_left(version) info", 0)}
    assert got["500"].labels.get("version") == "v2" and got["500"].value == 1
    assert one(e, "vector(time())", 86400 * 31 + 3600).value == 86400 * 31 + 3600
    assert one(e, "month(vector(86400 * 31 + 3600))", 0).value == 2
    assert one(e, "hour(vector(86400 * 31 + 3600))", 0).value == 1
    assert one(e, "day_of_week(vector(0))", 0).value == 4  # 1970-01-01 was a Thursday


def test_range_query_and_unsupported_errors():
    e = load({L("g"): [1, 2, 3]})
    ((labels, points),) = e.query_range("g * 2", 0, 120, 60)
    assert labels == Labels() and points == [(0.0, 2.0), (60.0, 4.0), (120.0, 6.0)]
    with pytest.raises(PromQLError, match="native histograms"):
        e.parse("histogram_count(g)")
    with pytest.raises(PromQLError, match="parse error"):
        e.parse("no_such_function(g)")
    with pytest.raises(PromQLError):
        e.parse("g{")
