import math

from watchdog.model import STALE_NAN, Labels, is_stale


def test_labels_sorted_hashable_and_drop_empty():
    a = Labels.of({"b": "2", "a": "1", "c": ""})
    assert list(a) == [("a", "1"), ("b", "2")]
    assert a == Labels.of(b="2", a="1")
    assert hash(a) == hash(Labels.of(a="1", b="2"))
    assert a.get("a") == "1" and a.get("zz") == ""
    assert a.merged({"a": "", "d": "4"}).to_dict() == {"b": "2", "d": "4"}


def test_fingerprint_is_stable():
    assert Labels.of(a="1").fingerprint() == "9f824d7909b4ab8d"
    assert Labels.of(a="1").fingerprint() == Labels.of(a="1").fingerprint()
    assert Labels.of(a="1").fingerprint() != Labels.of(a="2").fingerprint()


def test_stale_marker_distinct_from_nan():
    assert math.isnan(STALE_NAN) and is_stale(STALE_NAN)
    assert not is_stale(float("nan")) and not is_stale(1.0)
