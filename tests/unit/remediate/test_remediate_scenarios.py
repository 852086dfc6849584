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


async def test_escalation_expectations_fail_without_the_ack(tmp_path):
    """The shipped escalation scenario depends on its ack: without it the manager is paged and the restart is retried."""
    base = Path(__file__).resolve().parents[2] / "scenarios"
    text = (base / "demo-escalation.yml").read_text()
    assert "ack: {alertname: DemoServiceDown" in text
    no_ack = tmp_path / "no-ack.yml"
    no_ack.write_text("\n".join(line for line in text.replace("../../", str(base.parent.parent) + "/").splitlines()
                                if "ack: {" not in line))
    failures = await scenario.run_scenario(str(no_ack))
    assert any("expected no escalation to level 2 of demo-escalation" in f and "'manager'" in f for f in failures), failures
    assert any("expected no run of restart-demo" in f for f in failures), failures
    assert any("expected no firing notice to manager" in f for f in failures), failures
    wrong_level = tmp_path / "wrong.yml"
    wrong_level.write_text(text.replace("../../", str(base.parent.parent) + "/").replace("level: 1, receivers: [lead]", "level: 1, receivers: [manager]"))
    (failure,) = await scenario.run_scenario(str(wrong_level))
    assert "expected escalation to level 1 of demo-escalation" in failure


def test_every_shipped_rule_and_remediation_file_has_a_scenario():
    """Issue 7: a scenario for every example in rules/ and remediations/ (run above, so by `make test`)."""
    import yaml

    root = Path(__file__).resolve().parents[3]
    covered: set[Path] = set()
    for path in SCENARIOS:
        doc = yaml.safe_load(path.read_text())
        for ref in [*doc.get("rule_files", []), *doc.get("remediation_files", [])]:
            covered.add((path.parent / ref).resolve())
    shipped = sorted([*(root / "rules").glob("*.rules.yml"), *(root / "remediations").glob("*.yml")])
    assert len(shipped) >= 6
    assert [str(p.relative_to(root)) for p in shipped if p.resolve() not in covered] == []


def _absolute(doc: dict, base: Path) -> dict:
    """The scenario with its file references made absolute, so a copy runs from anywhere."""
    doc = dict(doc)
    for key in ("rule_files", "remediation_files"):
        if key in doc:
            doc[key] = [str((base / p).resolve()) for p in doc[key]]
    if "alerting_file" in doc:
        doc["alerting_file"] = str((base / doc["alerting_file"]).resolve())
    return doc


TIMED = ("notification", "remediation", "escalation")


async def test_every_timed_expectation_is_exact_to_the_second(tmp_path):
    """The runner lets started work run before the clock moves, so the shipped windows are at most one
    second wide, and each notice, run and escalation expected one second before its window fails
    (nothing happens ahead of its cause)."""
    import yaml

    checked = 0
    for path in SCENARIOS:
        doc = _absolute(yaml.safe_load(path.read_text()), path.parent)
        for i, item in enumerate(doc.get("expect", [])):
            kind = next((k for k in TIMED if k in item), None)
            if kind is None or item[kind].get("absent"):
                continue
            lo, hi = scenario._window(item)
            assert hi - lo <= 1, f"{path.name}: expectation {i} still has a wide window {item}"
            moved = {**item, "between": [lo - 1, lo - 1]}
            moved.pop("at", None)
            late = tmp_path / f"{path.stem}-{i}.yml"
            late.write_text(yaml.safe_dump({**doc, "expect": [moved]}))
            failures = await scenario.run_scenario(str(late))
            assert len(failures) == 1 and f"between {lo - 1:g}s" in failures[0], (path.name, item, failures)
            checked += 1
    assert checked >= 20
