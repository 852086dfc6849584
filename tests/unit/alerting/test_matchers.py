"""Alertmanager matcher parsing and matching."""

from __future__ import annotations

import pytest

from watchdog.alerting.matchers import MatchType, Matcher, matches_all, parse_matcher, parse_matchers
from watchdog.model import Labels


@pytest.mark.parametrize(
    "text, name, op, value",
    [
        ('alertname="DemoServiceDown"', "alertname", MatchType.EQUAL, "DemoServiceDown"),
        ('severity!="info"', "severity", MatchType.NOT_EQUAL, "info"),
        ('job=~"api|web"', "job", MatchType.REGEX, "api|web"),
        ('job!~"test.*"', "job", MatchType.NOT_REGEX, "test.*"),
        ("alertname=DemoServiceDown", "alertname", MatchType.EQUAL, "DemoServiceDown"),
        ("  team =  web ops  ", "team", MatchType.EQUAL, "web ops"),
        (r'msg="say \"hi\""', "msg", MatchType.EQUAL, 'say "hi"'),
        (r'path="a\\b"', "path", MatchType.EQUAL, "a\\b"),
        (r'text="line1\nline2"', "text", MatchType.EQUAL, "line1\nline2"),
        (r'code=~"\d+"', "code", MatchType.REGEX, r"\d+"),
        ('"service name"="x"', "service name", MatchType.EQUAL, "x"),
        ('empty=""', "empty", MatchType.EQUAL, ""),
    ],
)
def test_parse_single(text, name, op, value):
    m = parse_matcher(text)
    assert (m.name, m.op, m.value) == (name, op, value)


def test_parse_list_forms():
    braces = parse_matchers('{a="b", c=~"d|e" ,f!=g}')
    bare = parse_matchers('a="b",c=~"d|e",f!=g,')
    assert [str(m) for m in braces] == ['a="b"', 'c=~"d|e"', 'f!="g"']
    assert braces == bare
    assert parse_matchers(['a="b"', 'c="d,e"']) == [Matcher.create("a", "=", "b"), Matcher.create("c", "=", "d,e")]
    assert parse_matchers("{}") == []


@pytest.mark.parametrize(
    "bad",
    ["", "alertname", 'a=="b"x', '{a="b"', 'a="b"}', 'a="unterminated', 'a=~"(["', "=b", 'a="b" c="d"', 'a=b"c'],
)
def test_invalid_raise_value_error(bad):
    with pytest.raises(ValueError, match="matcher|regular expression"):
        parse_matchers(bad)


def test_regex_is_fully_anchored():
    m = parse_matcher('job=~"api"')
    assert m.matches(Labels.of(job="api"))
    assert not m.matches(Labels.of(job="api-2"))
    assert not m.matches(Labels.of(job="my-api"))
    assert parse_matcher('job!~"api"').matches(Labels.of(job="api-2"))


def test_absent_label_is_empty_value():
    labels = Labels.of(alertname="X")
    assert parse_matcher('team=""').matches(labels)
    assert not parse_matcher('team!=""').matches(labels)
    assert parse_matcher('team=~".*"').matches(labels)
    assert not parse_matcher('team=~".+"').matches(labels)
    assert parse_matcher('team!="web"').matches(labels)


def test_matches_all_with_plain_dicts_and_labels():
    ms = parse_matchers('alertname="DemoServiceDown", severity=~"crit.*"')
    assert matches_all(ms, {"alertname": "DemoServiceDown", "severity": "critical"})
    assert not matches_all(ms, Labels.of(alertname="DemoServiceDown", severity="warning"))
    assert matches_all([], {"anything": "x"})


def test_str_round_trips():
    for text in [r'a="x\"y"', r'b=~"\d+\\\\"', 'c!="line\\nbreak"', '"odd name"!~"v"']:
        m = parse_matcher(text)
        assert parse_matcher(str(m)) == m
