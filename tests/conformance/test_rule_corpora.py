"""The real rule corpora in ../shared/conformance/rules load with our loader and evaluate on synthetic series.

Series are generated for every selector of every expression
(`watchdog.rules.synthetic`): 1h of data at 15s, counters increasing. Every
rule then runs through the RuleManager; none may fail with "unsupported", and
the only failure allowed is the one the data itself causes (Prometheus gives
the same error on such data): two synthetic pg_settings series that differ
only in a label the rule does not match on.
"""

from __future__ import annotations

import asyncio
import math
import random

import pytest

from watchdog.promql import Engine
from watchdog.rules.loader import load_rule_files
from watchdog.rules.manager import RuleManager
from watchdog.rules.synthetic import build
from watchdog.rules.unittest import _DiscardStore
from watchdog.testing.env import require_shared
from watchdog.testing.fakeclock import FakeClock
from watchdog.tsdb.store import SeriesStore

pytestmark = pytest.mark.shared

START = 1_700_000_000.0
CORPORA = {
    # file: (rules, rules with a non-empty result at least, failures the synthetic data causes)
    "awesome_prometheus_alerts.yml": (1154, 640, {"PostgresqlConfigurationChanged": "many-to-many matching not allowed"}),
    "kube_prometheus.yml": (234, 160, {}),
}


@pytest.mark.parametrize("name", sorted(CORPORA))
def test_corpus_loads_and_evaluates_without_unsupported(name):
    n_rules, min_nonempty, data_failures = CORPORA[name]
    path = str(require_shared() / "conformance" / "rules" / name)
    groups, errors = load_rule_files([path])
    assert errors == []
    assert sum(len(g.rules) for g in groups) == n_rules

    store = SeriesStore(retention=math.inf)
    engine = Engine(store)
    data = build(engine.parse(r.expr) for g in groups for r in g.rules)
    rng = random.Random(7)
    for i in range(241):
        t = START + i * 15
        for labels, value in data.samples(1000 + i * 15, i, rng):
            store.append(labels, value, t)
    manager = RuleManager(groups, engine=engine, series=store, store=_DiscardStore(), clock=FakeClock(t))
    asyncio.run(manager.evaluate_all(t))

    failures = {r["name"]: r["lastError"] for g in manager.health() for r in g["rules"] if r["health"] == "err"}
    assert not [e for e in failures.values() if "unsupported" in e]
    assert {k: v for k, v in failures.items() if data_failures.get(k, "\0") not in v} == {}
    nonempty = sum(1 for g in groups for r in g.rules if r.name not in failures and engine.vector(r.expr, t))
    assert nonempty >= min_nonempty
