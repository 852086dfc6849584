"""Every `rules/*.test.yml` shipped with the daemon passes `watchdog test rules` (run by `make test`)."""

from __future__ import annotations

import subprocess
import sys

import pytest

from watchdog.testing.env import ROOT

TEST_FILES = sorted((ROOT / "rules").glob("*.test.yml"))


def test_there_are_shipped_rule_tests():
    assert any(p.name == "demo.test.yml" for p in TEST_FILES)


@pytest.mark.parametrize("path", TEST_FILES, ids=[p.name for p in TEST_FILES])
def test_shipped_rule_tests_pass(path):
    proc = subprocess.run(
        [sys.executable, "-m", "watchdog.cli", "test", "rules", str(path)],
        capture_output=True, text=True, cwd=ROOT, timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "  SUCCESS" in proc.stdout
