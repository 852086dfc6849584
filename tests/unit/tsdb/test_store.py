import math

import numpy as np
import pytest

from watchdog.model import Labels, is_stale
from watchdog.tsdb import Matcher, MatchOp, SeriesStore
from watchdog.tsdb.series import SeriesBuffer


def L(name, **kw):
    return Labels.of({"__name__": name, **kw})


def test_matcher_semantics():
    assert Matcher("job", MatchOp.RE, "ap.").matches("api")
    assert not Matcher("job", MatchOp.RE, "ap").matches("api")  # fully anchored
    assert not Matcher("job", MatchOp.RE, "a|api").matches("apix")
    assert Matcher("job", MatchOp.NRE, "ap.").matches("web")
    assert Matcher("job", MatchOp.NE, "x").matches("")
    assert Matcher("job", MatchOp.RE, ".*").matches_empty
    assert not Matcher("job", MatchOp.RE, ".+").matches_empty
    assert Matcher("job", MatchOp.RE, "a.b").matches("a\nb")
    with pytest.raises(ValueError):
        Matcher("job", MatchOp.RE, "(")


def test_ring_buffer_grows_then_overwrites_oldest():
    b = SeriesBuffer(max_samples=40)
    for i in range(100):
        assert b.append(float(i), float(i * 10))
    assert b.count == 40
    ts, vals = b.ordered()
    assert list(ts) == [float(i) for i in range(60, 100)]
    assert list(vals) == [float(i * 10) for i in range(60, 100)]
    t, v = b.window(70.0, 75.0)  # left-open
    assert list(t) == [71.0, 72.0, 73.0, 74.0, 75.0]
    assert not b.append(99.0, 1.0)  # out of order
    assert b.drop_before(95.0) == 35
    assert list(b.ordered()[0]) == [95.0, 96.0, 97.0, 98.0, 99.0]


def test_select_with_index_and_filters():
    s = SeriesStore()
    s.append(L("up", job="a", instance="1"), 1, 10)
    s.append(L("up", job="b", instance="2"), 0, 10)
    s.append(L("probe_success", job="a"), 1, 10)
    got = s.select([Matcher("__name__", MatchOp.EQ, "up"), Matcher("job", MatchOp.NE, "a")], 0, 10)
    assert [lab.get("job") for lab, _, _ in got] == ["b"]
    got = s.select([Matcher("__name__", MatchOp.RE, "up|probe_.*")], 0, 10)
    assert len(got) == 3
    # empty-matching matcher matches a missing label
    got = s.select([Matcher("__name__", MatchOp.RE, ".+"), Matcher("instance", MatchOp.EQ, "")], 0, 10)
    assert [lab.metric_name for lab, _, _ in got] == ["probe_success"]
    # left-open window
    assert s.select([Matcher("__name__", MatchOp.EQ, "up")], 10, 20) == []
    assert s.label_values("job") == ["a", "b"]
    assert "instance" in s.label_names()


def test_out_of_order_and_max_series_are_counted_not_raised():
    s = SeriesStore(max_series=2)
    s.append(L("a"), 1, 10)
    s.append(L("a"), 2, 10)
    s.append(L("b"), 1, 10)
    s.append(L("c"), 1, 10)
    assert s.out_of_order_dropped == 1
    assert s.series_refused == 1
    assert s.series_count() == 2
    assert s.sample_count() == 2


def test_append_batch_stale_marks_vanished_series_and_drop_source():
    s = SeriesStore()
    s.append_batch("t1", [(L("x", i="1"), 1.0), (L("x", i="2"), 2.0)], 10)
    s.append_batch("t1", [(L("x", i="1"), 1.5)], 20)
    (lab, ts, vals), = s.select([Matcher("i", MatchOp.EQ, "2")], 0, 100)
    assert list(ts) == [10.0, 20.0] and is_stale(float(vals[-1]))
    s.drop_source("t1", 30)
    (_, ts, vals), = s.select([Matcher("i", MatchOp.EQ, "1")], 0, 100)
    assert list(ts) == [10.0, 20.0, 30.0] and is_stale(float(vals[-1]))
    assert not math.isnan(vals[0])


def test_prune_drops_old_samples_and_empty_series():
    s = SeriesStore(retention=100)
    s.append(L("old"), 1, 10)
    s.append(L("new"), 1, 10)
    s.append(L("new"), 2, 200)
    assert s.prune(250) == 2
    assert s.series_count() == 1
    assert s.select([Matcher("__name__", MatchOp.EQ, "old")], 0, 1000) == []
    assert s.label_values("__name__") == ["new"]
    s.append(L("old"), 5, 260)  # can come back after removal
    assert s.series_count() == 2


def test_select_many_series_is_fast_enough():
    s = SeriesStore()
    for i in range(2000):
        for t in range(5):
            s.append(L("m", i=str(i), mod=str(i % 10)), float(t), float(t))
    got = s.select([Matcher("__name__", MatchOp.EQ, "m"), Matcher("mod", MatchOp.EQ, "3")], 0, 4)
    assert len(got) == 200
    assert all(isinstance(ts, np.ndarray) and len(ts) == 4 for _, ts, _ in got)


def test_re2_scoped_flags_are_translated():
    from watchdog.tsdb.matchers import translate_re2

    assert translate_re2("a(?i)b|c") == "a(?i:b)|(?i:c)"
    m = Matcher("x", MatchOp.RE, ".*((?i)DUC).*")
    assert m.matches("production") and m.matches("PRODUCTION") and not m.matches("prod")
    assert Matcher("x", MatchOp.RE, "a(?i)b|c").matches("C")
    assert not Matcher("x", MatchOp.RE, "a(?i)b|c").matches("Ab")
