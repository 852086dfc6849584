import math

import pytest

from watchdog.model import STALE_NAN, Labels
from watchdog.promql import Engine, PromQLError
from watchdog.tsdb import SeriesStore


def L(name, **kw):
    return Labels.of({"__name__": name, **kw})


@pytest.fixture
def engine():
    s = SeriesStore()
    for t in range(0, 601, 15):
        s.append(L("probe_success", target="a", job="a"), 1.0, t)
        s.append(L("probe_success", target="b", job="b"), 0.0 if t >= 300 else 1.0, t)
        s.append(L("probe_duration_seconds", target="a", job="a"), 0.25, t)
        s.append(L("probe_duration_seconds", target="b", job="b"), 3.0, t)
        s.append(L("http_requests_total", job="a", code="200"), t * 2.0, t)
        s.append(L("http_requests_total", job="a", code="500"), t * 0.5, t)
    return Engine(s)


def vec(engine, expr, t=600.0, **kw):
    return {tuple(sorted(s.labels.to_dict().items())): s.value for s in engine.vector(expr, t, **kw)}


def test_selectors_all_matcher_kinds(engine):
    assert vec(engine, 'probe_success{target="a"}') == {(("__name__", "probe_success"), ("job", "a"), ("target", "a")): 1.0}
    assert len(vec(engine, 'probe_success{target!="a"}')) == 1
    assert len(vec(engine, 'probe_success{target=~"a|b"}')) == 2
    assert len(vec(engine, 'probe_success{target!~"a"}')) == 1
    assert len(vec(engine, '{__name__=~"probe_.*", target="b"}')) == 2
    assert vec(engine, 'probe_success{target=~"a.+"}') == {}


def test_lookback_and_staleness():
    s = SeriesStore()
    s.append(L("up", job="x"), 1, 100)
    e = Engine(s)
    assert len(e.vector("up", 399)) == 1
    assert e.vector("up", 400) == []  # left-open 5m lookback
    s.append(L("up", job="x"), STALE_NAN, 110)
    assert e.vector("up", 120) == []
    assert len(e.vector("up", 105)) == 1


def test_comparisons_filter_and_bool_drops_name(engine):
    assert vec(engine, "probe_success == 0") == {(("__name__", "probe_success"), ("job", "b"), ("target", "b")): 0.0}
    got = vec(engine, "probe_success == bool 0")
    assert got == {(("job", "a"), ("target", "a")): 0.0, (("job", "b"), ("target", "b")): 1.0}
    assert vec(engine, "1 < bool 2") == {(): 1.0}
    assert vec(engine, "0.5 < probe_duration_seconds") == {
        (("__name__", "probe_duration_seconds"), ("job", "b"), ("target", "b")): 3.0
    }


def test_arithmetic_vector_vector_and_matching(engine):
    got = vec(engine, "probe_duration_seconds * probe_success")
    assert got == {(("job", "a"), ("target", "a")): 0.25, (("job", "b"), ("target", "b")): 0.0}
    got = vec(engine, 'http_requests_total / ignoring(code) group_left sum by (job) (http_requests_total)')
    assert got[(("code", "200"), ("job", "a"))] == pytest.approx(0.8)
    got = vec(engine, 'sum by (job) (http_requests_total) - on(job) probe_duration_seconds')
    assert got == {(("job", "a"),): 1500.0 - 0.25}
    assert vec(engine, "-probe_duration_seconds{target='b'}") == {(("job", "b"), ("target", "b")): -3.0}
    assert vec(engine, "2 ^ 3 % 5") == {(): 3.0}
    with pytest.raises(PromQLError, match="many-to-one matching must be explicit"):
        engine.vector("http_requests_total + on(job) probe_duration_seconds", 600)
    with pytest.raises(PromQLError, match="duplicate series"):
        engine.vector("http_requests_total + on(job) http_requests_total", 600)


def test_set_operators(engine):
    assert len(vec(engine, "probe_success and probe_duration_seconds > 1")) == 1
    assert len(vec(engine, "probe_success unless probe_duration_seconds > 1")) == 1
    assert len(vec(engine, "probe_success or probe_duration_seconds")) == 2
    assert len(vec(engine, "probe_success or on() vector(1)")) == 2
    assert vec(engine, "absent(nothing) or vector(5)") == {(): 1.0}


def test_aggregations(engine):
    assert vec(engine, "sum(probe_duration_seconds)") == {(): 3.25}
    assert vec(engine, "avg by (job) (probe_duration_seconds)")[(("job", "b"),)] == 3.0
    assert vec(engine, "count without (target) (probe_success)") == {(("job", "a"),): 1.0, (("job", "b"),): 1.0}
    assert vec(engine, "MAX(probe_duration_seconds)") == {(): 3.0}
    assert vec(engine, "min(probe_duration_seconds)") == {(): 0.25}
    assert vec(engine, "SUM BY (job) (probe_success)") == {(("job", "a"),): 1.0, (("job", "b"),): 0.0}


def test_rate_increase_and_range(engine):
    got = vec(engine, "rate(http_requests_total[5m])")
    assert got[(("code", "200"), ("job", "a"))] == pytest.approx(2.0)
    got = vec(engine, "increase(http_requests_total[1m])")
    assert got[(("code", "500"), ("job", "a"))] == pytest.approx(30.0)
    rng = engine.query_range("probe_success", 540, 600, 30)
    assert [(labels.get("target"), [v for _, v in pts]) for labels, pts in rng] == [("a", [1.0] * 3), ("b", [0.0] * 3)]


def test_not_before_hides_older_samples(engine):
    assert vec(engine, "probe_success", t=600, not_before=600) == {}
    assert len(vec(engine, "probe_success", t=600, not_before=599)) == 2


def test_scalar_result_and_errors(engine):
    (s,) = engine.vector("1 + 1", 10)
    assert s.value == 2 and s.labels == Labels() and s.timestamp == 10
    assert engine.query('"x"', 10).string == "x"
    with pytest.raises(PromQLError, match="parse error"):
        engine.parse("sum(")
    with pytest.raises(PromQLError):
        engine.vector("probe_success[5m]", 600)
    assert engine.parse("up") is engine.parse("up")  # cached


def test_series_cap():
    s = SeriesStore()
    for i in range(20):
        s.append(L("m", i=str(i)), 1, 10)
    e = Engine(s, max_series_per_query=10)
    with pytest.raises(PromQLError, match="max_series_per_query"):
        e.vector("m", 10)
    assert math.isnan(Engine(s).query("scalar(m)", 10).scalar)
