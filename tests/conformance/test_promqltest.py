"""Prometheus's own PromQL engine scripts (../shared/conformance/promqltest/main) run against our engine.

Every case is `file:line`. Out-of-scope cases are skipped with a named reason
(promqltest_runner.SKIP_FILES and _skip_reason). Cases we know we still fail
are listed, with the reason, in promqltest_expected_failures.txt: any other
failure is a regression and fails the test; a listed case that now passes is
reported so the list can shrink.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from watchdog.testing.env import require_shared

sys.path.insert(0, str(Path(__file__).parent))
import promqltest_runner as runner  # noqa: E402

HERE = Path(__file__).parent
FILES = [
    "aggregators.test", "at_modifier.test", "collision.test", "duration_expression.test",
    "extended_vectors.test", "fill-modifier.test", "functions.test", "histograms.test", "info.test",
    "limit.test", "literals.test", "name_label_dropping.test", "native_histograms.test", "operators.test",
    "range_queries.test", "selectors.test", "staleness.test", "start_timestamps.test", "subquery.test",
    "trig_functions.test", "type_and_unit.test",
]
# Floor on passing cases over all files; raise it as the engine improves.
MIN_PASSED = 925


def expected_failures() -> dict[str, str]:
    out = {}
    for line in (HERE / "promqltest_expected_failures.txt").read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        case, _, reason = line.partition(" ")
        out[case] = reason.strip().lstrip("#").strip()
    return out


def _dir() -> Path:
    return require_shared() / "conformance" / "promqltest" / "main"


@pytest.mark.shared
@pytest.mark.parametrize("name", FILES)
def test_promqltest_file(name: str) -> None:
    path = _dir() / name
    assert path.is_file(), f"{path} is missing"
    res = runner.run_file(path)
    known = expected_failures()
    regressions = {c: why for c, why in res.failed.items() if c not in known}
    fixed = sorted(c for c in known if c.startswith(name + ":") and c in res.passed)
    print(f"\n{name}: passed={len(res.passed)} failed={len(res.failed)} skipped={len(res.skipped)}")
    for case, reason in sorted(res.skipped.items(), key=lambda kv: int(kv[0].rsplit(':', 1)[1])):
        print(f"  skip {case}: {reason}")
    for case in fixed:
        print(f"  now passing (remove from expected failures): {case}")
    assert not regressions, "new PromQL conformance failures:\n" + "\n".join(
        f"  {c}: {why}" for c, why in sorted(regressions.items())
    )


@pytest.mark.shared
def test_promqltest_totals() -> None:
    base = _dir()
    assert sorted(p.name for p in base.glob("*.test")) == sorted(FILES), "the script set changed; review skips"
    passed = failed = skipped = 0
    for name in FILES:
        res = runner.run_file(base / name)
        passed += len(res.passed)
        failed += len(res.failed)
        skipped += len(res.skipped)
    print(f"\npromqltest main: passed={passed} failed={failed} skipped={skipped}")
    assert passed >= MIN_PASSED
    assert failed <= len(expected_failures())


@pytest.mark.shared
def test_promqltest_batch_path_matches(monkeypatch: pytest.MonkeyPatch) -> None:
    """The vectorised range-function path (used for large vectors) gives the same outcomes on every case."""
    from watchdog.promql import functions

    base = _dir()
    names = ["functions.test", "at_modifier.test", "staleness.test", "subquery.test", "aggregators.test"]
    exact = {n: runner.run_file(base / n) for n in names}
    monkeypatch.setattr(functions, "BATCH_MIN_SERIES", 0)
    for n in names:
        batched = runner.run_file(base / n)
        assert sorted(batched.passed) == sorted(exact[n].passed), n
