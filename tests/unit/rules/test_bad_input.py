"""Bad rules: clear errors with file:line at load time, and at run time one failing rule never stops the others."""

from __future__ import annotations

import textwrap

from rules_memstore import MemoryStore
from watchdog.model import Labels
from watchdog.promql import Engine
from watchdog.rules.loader import load_rule_files
from watchdog.rules.manager import RuleManager
from watchdog.rules.model import AlertingRule, RecordingRule, RuleGroup
from watchdog.tsdb import SeriesStore

T0 = 1_700_000_000.0


def test_load_errors_name_file_line_and_reason(tmp_path):
    path = tmp_path / "bad.rules.yml"
    path.write_text(textwrap.dedent("""\
        groups:
          - name: bad
            rules:
              - alert: Unclosed
                expr: rate(up[5m]
              - alert: UnknownFunction
                expr: nosuch(up)
              - alert: WrongArgument
                expr: rate(up)
              - alert: HugeRange
                expr: rate(up[300y])
              - alert: HugeSubquery
                expr: max_over_time(up[30d:1s])
              - alert: Fine
                expr: up == 0
        """))
    groups, errors = load_rule_files([str(path)])
    assert groups == []
    lines = [str(e) for e in errors]
    p = str(path)
    assert lines == [
        f"{p}:5:9: groups[0].rules[0].expr: could not parse expression: parse error: unclosed left parenthesis",
        f"{p}:7:9: groups[0].rules[1].expr: could not parse expression: parse error: unknown function with name 'nosuch'",
        f"{p}:9:9: groups[0].rules[2].expr: could not parse expression: parse error: expected type matrix in call to function 'rate', got vector",
        f"{p}:11:9: groups[0].rules[3].expr: could not parse expression: parse error: range 300y is out of range (at most 292y)",
        f"{p}:13:9: groups[0].rules[4].expr: could not parse expression: subquery [4w2d:1s] would evaluate 2592000 steps, "
        "more than 100000; use a larger step or a shorter range",
    ]


async def test_failing_rules_are_health_and_the_rest_keep_evaluating(fake_clock):
    series = SeriesStore()
    for i in range(50):
        series.append(Labels.of(__name__="requests_total", path=f"/p{i}"), i, T0)
    series.append(Labels.of(__name__="up", job="api"), 0, T0)
    engine = Engine(series, max_series_per_query=20)
    f, g = "r.yml", "g"
    rules = (
        AlertingRule(name="Explodes", expr="requests_total", file=f, group=g, index=0),
        AlertingRule(name="BadRegex", expr='label_replace(up, "a", "$1", "job", "(")', file=f, group=g, index=1),
        AlertingRule(name="SlowSubquery", expr="max_over_time(up[100d:])", file=f, group=g, index=2),
        RecordingRule(record="too:many", expr="up or vector(1)", file=f, group=g, index=3),
        AlertingRule(name="Down", expr="up == 0", file=f, group=g, index=4),
    )
    manager = RuleManager([RuleGroup(g, f, 10.0, limit=1, rules=rules)], engine=engine, series=series,
                          store=MemoryStore(), clock=fake_clock)
    await manager.evaluate_all(T0)
    health = {r["name"]: (r["health"], r["lastError"]) for grp in manager.health() for r in grp["rules"]}
    assert health == {
        "Explodes": ("err", "query touched more than 20 series (max_series_per_query); narrow the selectors"),
        "BadRegex": ("err", "invalid regular expression in label_replace(): ("),
        "SlowSubquery": ("err", "subqueries of this query would evaluate more than 100000 steps (max_subquery_steps); "
                                "use a larger step or a shorter range"),
        "too:many": ("err", "exceeded limit of 1 with 2 series"),
        "Down": ("ok", ""),
    }
    assert [a.labels.get("alertname") for a in manager.alerts()] == ["Down"]
