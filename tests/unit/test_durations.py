import pytest
from pydantic import BaseModel

from watchdog.durations import Duration, format_duration, parse_duration


@pytest.mark.parametrize(
    "text,seconds",
    [("5s", 5), ("1m30s", 90), ("2h", 7200), ("500ms", 0.5), ("7d", 604800), ("1w", 604800), ("0", 0), (3, 3), (1.5, 1.5)],
)
def test_parse(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("bad", ["", "5", "5x", "1s1m", "-1s", True, [1], -2])
def test_parse_rejects(bad):
    with pytest.raises(ValueError):
        parse_duration(bad)


def test_format_roundtrip():
    for s in (0.5, 1, 90, 3600, 5400, 86400 + 1):
        assert parse_duration(format_duration(s)) == s


def test_pydantic_type():
    class M(BaseModel):
        d: Duration

    assert M(d="1m").d == 60.0
    assert M(d="1m").model_dump() == {"d": "1m"}
