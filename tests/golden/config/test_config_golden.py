"""Golden tests for `watchdog check`: every broken config's exact stderr, good configs' summaries.

bad/NAME.yaml   -> bad/NAME.expected   (exact stderr lines; exit 1, nothing on stdout)
good/NAME.yaml  -> good/NAME.expected  (stdout summary line, then the stderr warning lines; exit 0)
Paths in messages are as given on the command line (the tests run from this directory).
Regenerate after a deliberate message change with WATCHDOG_BLESS_GOLDEN=1, then review the diff.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from watchdog import cli

HERE = Path(__file__).resolve().parent
BAD = sorted(p.name for p in (HERE / "bad").glob("*.yaml"))
GOOD = sorted(p.name for p in (HERE / "good").glob("*.yaml"))
BLESS = os.environ.get("WATCHDOG_BLESS_GOLDEN") == "1"
UNSET_VAR = "WATCHDOG_GOLDEN_UNSET_HOOK"
ENV = {"WATCHDOG_GOLDEN_HOOK_URL": "http://127.0.0.1:9000/team"}


@pytest.fixture
def golden_env(monkeypatch):
    monkeypatch.chdir(HERE)
    monkeypatch.delenv(UNSET_VAR, raising=False)
    for k, v in ENV.items():
        monkeypatch.setenv(k, v)


def _compare(expected_file: Path, actual: str) -> None:
    if BLESS:
        expected_file.write_text(actual)
    assert expected_file.exists(), f"missing {expected_file.name}; run with WATCHDOG_BLESS_GOLDEN=1 and review"
    assert actual == expected_file.read_text()


def test_enough_broken_configs():
    assert len(BAD) >= 15
    assert all((HERE / "bad" / n).with_suffix(".expected").exists() for n in BAD)


@pytest.mark.parametrize("name", BAD)
def test_bad_config_reports_exact_errors(name, golden_env, capsys):
    code = cli.main(["check", "-c", f"bad/{name}"])
    out, err = capsys.readouterr()
    assert code == 1
    assert out == ""
    assert err.strip(), "an invalid config must explain itself on stderr"
    _compare(HERE / "bad" / name.replace(".yaml", ".expected"), err)


@pytest.mark.parametrize("name", GOOD)
def test_good_config_passes(name, golden_env, capsys):
    code = cli.main(["check", "--config.file", f"good/{name}"])
    out, err = capsys.readouterr()
    assert code == 0, err
    assert out.startswith("SUCCESS: ")
    assert all(" warning: " in line for line in err.splitlines()), err
    _compare(HERE / "good" / name.replace(".yaml", ".expected"), out + err)


def test_real_subprocess_matches_golden():
    """The installed console script, as an operator runs it (stderr/exit code through a real process)."""
    script = Path(sys.executable).parent / "watchdog"
    argv = [str(script)] if script.exists() else [sys.executable, "-m", "watchdog.cli"]
    env = {k: v for k, v in os.environ.items() if k != UNSET_VAR}
    name = "19-escalation-and-delivery.yaml"
    proc = subprocess.run([*argv, "check", "-c", f"bad/{name}"], cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    assert proc.stdout == ""
    assert proc.stderr == (HERE / "bad" / name.replace(".yaml", ".expected")).read_text()
    proc = subprocess.run([*argv, "check", "-c", "good/empty.yaml"], cwd=HERE, env=env, capture_output=True, text=True, timeout=60)
    assert (proc.returncode, proc.stdout) == (0, "SUCCESS: 0 targets, 0 rule groups (0 rules), 0 remediations\n")


@pytest.mark.parametrize(
    "argv",
    [["check"], ["check", "rules"], ["check", "-c", "x.yaml", "extra.yaml"], ["check", "nonsense"]],
)
def test_usage_errors_exit_2(argv, golden_env, capsys):
    assert cli.main(argv) == 2
    assert capsys.readouterr().err


def test_check_rules_mode(golden_env, capsys):
    code = cli.main(["check", "rules", "good/rules/demo.rules.yml"])
    out, _ = capsys.readouterr()
    assert code == 0
    assert out.splitlines()[:2] == ["Checking good/rules/demo.rules.yml", "  SUCCESS: 2 rules found"]
    code = cli.main(["check", "rules", "good/rules/demo.rules.yml", "bad/files/no-such.rules.yml"])
    out, err = capsys.readouterr()
    assert code == 1
    assert "Checking bad/files/no-such.rules.yml" in out
    assert err.splitlines()[0] == "  FAILED:"
    assert err.splitlines()[1].startswith("bad/files/no-such.rules.yml:")
