"""Every shipped scenario passes on the real core (FakeClock, simulated actions); a wrong expectation fails."""

from __future__ import annotations

import argparse
from pathlib import Path

import pytest

from watchdog.remediate import scenario

SCENARIOS = sorted((Path(__file__).resolve().parents[2] / "scenarios").glob("*.yml"))
SCENARIOS = [p for p in SCENARIOS if p.name != "alerting.yml"]


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
async def test_shipped_scenario_passes(path):
    assert await scenario.run_scenario(str(path)) == []


async def test_a_wrong_expectation_is_reported(tmp_path):
    good = (Path(__file__).resolve().parents[2] / "scenarios" / "demo.yml").read_text()
    bad = tmp_path / "bad.yml"
    base = str(Path(__file__).resolve().parents[2] / "scenarios")
    bad.write_text(good.replace("../../", str(Path(base).parent.parent) + "/").replace("alerting_file: alerting.yml", f"alerting_file: {base}/alerting.yml")
                   .replace('argv_contains: ["--target=demo"]', 'argv_contains: ["--target=other"]'))
    failures = await scenario.run_scenario(str(bad))
    assert len(failures) == 1 and "expected remediation" in failures[0] and "--target=demo" in failures[0]


def test_main_exit_codes(tmp_path, capsys):
    assert scenario.main(argparse.Namespace(files=[str(SCENARIOS[0])])) == 0
    assert scenario.main(argparse.Namespace(files=[str(tmp_path / "missing.yml")])) == 2
    assert "cannot run" in capsys.readouterr().err


def test_watchdog_test_scenario_command(capsys):
    from watchdog import cli

    assert cli.main(["test", "scenario", *map(str, SCENARIOS)]) == 0
    assert capsys.readouterr().out.count("SUCCESS") == len(SCENARIOS)
    assert cli.main(["test", "scenario"]) == 2
