"""Alertmanager conformance: every routing case and every inhibition/silence/grouping scenario in ../shared.

Cases were verified with amtool 0.25 and scenarios against a live Alertmanager 0.25
(see ../shared/conformance/README.md); our route tree, inhibitor, silences and
dispatcher must give the same answers.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

from watchdog.alerting import cli_routes
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


# -- `watchdog routes test` answers like `amtool config routes test` --------------------------


def run_routes_test(capsys, config: str, *args: str) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser()
    cli_routes.add_arguments(parser)
    code = cli_routes.main(parser.parse_args(["test", f"--config.file={config}", *args]))
    out = capsys.readouterr()
    return code, out.out, out.err


def _label_args(labels: dict) -> list[str]:
    return [f"{k}={v}" for k, v in labels.items()]


@pytest.mark.parametrize("config, labels, expected", _cases())
def test_routes_test_cli_prints_receivers_and_verifies(capsys, config, labels, expected):
    require_shared()
    want = ",".join(expected)
    assert run_routes_test(capsys, config, *_label_args(labels)) == (0, want + "\n", "")
    assert run_routes_test(capsys, config, f"--verify.receivers={want}", *_label_args(labels))[:2] == (0, want + "\n")
    code, out, _ = run_routes_test(capsys, config, "--verify.receivers=nobody", *_label_args(labels))
    assert (code, out) == (1, want + "\nWARNING: Expected receivers did not match resolved receivers.\n")


def test_routes_test_tree_is_drawn_as_amtool_draws_it(capsys):
    """Outputs pinned from amtool 0.25 (legacy match_re values shown anchored, as Alertmanager holds them)."""
    require_shared()
    code, out, _ = run_routes_test(capsys, str(AM_DIR / "legacy_match_syntax.yml"), "--tree",
                                   "alertname=InvoiceJobFailed", "service=billing", "severity=critical", "region=eu")
    assert code == 0
    assert out == (
        "Matching routes:\n.\n└── default-route\n"
        "    ├── default-route  receiver: archive\n"
        "    └── {service=\"billing\"}\n"
        "        └── {severity=~\"^(?:^(critical|error)$)$\"}\n"
        "            └── {region=\"eu\"}  receiver: billing-oncall\n\n\n"
        "archive,billing-oncall\n"
    )
    code, out, _ = run_routes_test(capsys, str(AM_DIR / "self_healing_escalation.yml"), "--tree",
                                   "alertname=ServiceDown", "host=db-1", "severity=critical")
    assert out == (
        "Matching routes:\n.\n└── default-route\n"
        "    ├── {severity=\"critical\"}\n"
        "    │\u00a0\u00a0 └── {host=~\"db-.*\"}  receiver: dba-pager\n"
        "    └── {severity=~\"critical|warning\"}  receiver: chat\n\n\n"
        "dba-pager,chat\n"
    )


def test_routes_test_errors_exit_1_like_amtool(capsys, tmp_path):
    require_shared()
    bad = tmp_path / "am.yml"
    bad.write_text("route:\n  receiver: x\nreceivers:\n- name: y\n")
    code, out, err = run_routes_test(capsys, str(bad), "a=b")
    assert (code, out) == (1, "")
    assert err == f"{bad}:2:3: route.receiver: undefined receiver 'x' used in route\n"
    code, out, err = run_routes_test(capsys, str(AM_DIR / "team_routing.yml"), "a=~b")
    assert (code, out) == (1, "")
    assert "name=value" in err


@pytest.mark.services
@pytest.mark.parametrize("extra", [[], ["--verify.receivers=nobody"], ["--tree"]], ids=["plain", "verify-fails", "tree"])
def test_routes_test_matches_real_amtool(capsys, extra):
    """Byte-for-byte the same stdout and exit code as amtool (apt: prometheus-alertmanager) on every case."""
    from watchdog.testing.env import require_service

    require_shared()
    amtool = shutil.which("amtool")
    require_service("amtool", amtool is not None, "amtool not on PATH (apt-get install prometheus-alertmanager)")
    cases = _cases()
    assert cases
    for param in cases:
        config, labels, _ = param.values
        theirs = subprocess.run([amtool, "config", "routes", "test", f"--config.file={config}", *extra, *_label_args(labels)],
                                capture_output=True, text=True, timeout=30)
        ours = run_routes_test(capsys, config, *extra, *_label_args(labels))
        assert (ours[0], ours[1]) == (theirs.returncode, theirs.stdout), (config, labels)
