"""Alertmanager conformance: every routing case and every inhibition/silence/grouping scenario in ../shared.

Cases were verified with amtool 0.25 and scenarios against a live Alertmanager 0.25
(see ../shared/conformance/README.md); our route tree, inhibitor, silences and
dispatcher must give the same answers.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from watchdog.alerting.dispatcher import Dispatcher
from watchdog.alerting.inhibit import Inhibitor
from watchdog.alerting.load import load_routing
from watchdog.alerting.routing import RouteTree
from watchdog.alerting.silences import SilenceIndex, new_silence
from watchdog.model import Alert, AlertState, Labels
from watchdog.state.sqlite import SqliteStore
from watchdog.testing.env import SHARED, require_shared
from watchdog.testing.fakeclock import FakeClock

pytestmark = pytest.mark.shared

AM_DIR = SHARED / "conformance" / "alertmanager"
T0 = 1_700_000_000.0


def _files(pattern: str) -> list[Path]:
    return sorted(AM_DIR.glob(pattern)) if AM_DIR.is_dir() else []


def _cases() -> list[tuple[str, dict, list[str]]]:
    out = []
    for path in _files("*.cases.yml"):
        config = str(path).replace(".cases.yml", ".yml")
        for i, case in enumerate(yaml.safe_load(path.read_text())):
            out.append(pytest.param(config, case["labels"], case["expected_receivers"], id=f"{path.stem}[{i}]"))
    return out


def _scenarios() -> list:
    out = []
    for path in _files("*.scenarios.yml"):
        config = str(path).replace(".scenarios.yml", ".yml")
        for i, sc in enumerate(yaml.safe_load(path.read_text())):
            out.append(pytest.param(config, sc, id=f"{path.stem}[{i}]"))
    return out


def test_conformance_data_present():
    require_shared()
    assert len(_cases()) == 39
    assert len(_scenarios()) == 6


def labels_of(raw: dict) -> Labels:
    return Labels.of({k: str(v) for k, v in raw.items()})


@pytest.mark.parametrize("config, labels, expected", _cases())
def test_routing_case(config, labels, expected):
    require_shared()
    tree = RouteTree(load_routing(config).alerting.route)
    assert tree.receivers(labels_of(labels)) == expected


@pytest.mark.parametrize("config, scenario", _scenarios())
def test_inhibition_and_silence_scenario(config, scenario):
    require_shared()
    source = load_routing(config)
    tree = RouteTree(source.alerting.route)
    inhibitor = Inhibitor(source.alerting.inhibit_rules)
    inhibitor.set_firing(labels_of(a["labels"]) for a in scenario["alerts"] if not a.get("resolved"))
    silences = SilenceIndex(
        new_silence(s["matchers"], T0 - 60, T0 + 3600, "conformance", "", T0) for s in scenario.get("silences", [])
    )
    for alert in scenario["alerts"]:
        if alert.get("resolved"):
            continue
        labels = labels_of(alert["labels"])
        assert inhibitor.inhibited(labels) == alert.get("inhibited", False), dict(labels)
        assert bool(silences.silenced_by(labels, T0)) == alert.get("silenced", False), dict(labels)
        if "receivers" in alert:
            assert tree.receivers(labels) == alert["receivers"], dict(labels)


@pytest.mark.parametrize("config, scenario", [p for p in _scenarios() if "expected_groups" in p.values[1]])
async def test_grouping_scenario(config, scenario):
    require_shared()
    source = load_routing(config)
    store = SqliteStore(":memory:")
    await store.open()
    try:
        dispatcher = Dispatcher(source.alerting, store=store, clock=FakeClock(T0))
        alerts = [Alert(labels=labels_of(a["labels"]), annotations={}, state=AlertState.FIRING, active_at=T0, fired_at=T0)
                  for a in scenario["alerts"] if not a.get("resolved")]
        await dispatcher.on_alerts(alerts, T0)
        got = sorted((g["receiver"], sorted(g["labels"].items()), len(g["alerts"])) for g in dispatcher.groups())
        want = sorted((g["receiver"], sorted((k, str(v)) for k, v in g["labels"].items()), g["alerts"])
                      for g in scenario["expected_groups"])
        # Every expected group exists; groups of other routes the alerts also took may exist besides.
        for group in want:
            assert group in got
        await dispatcher.close()
    finally:
        await store.close()
