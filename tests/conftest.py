"""Shared test fixtures: the ../shared data folder and loopback services.

Tests that need ../shared skip with a reason when it is absent (a user's clone
has none) and fail instead under WATCHDOG_REQUIRE_SHARED=1 (set by .ci/run).
Tests that need PostgreSQL/Prometheus skip unless WATCHDOG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared"


def require_shared() -> Path:
    """Return the ../shared path, or skip/fail as the environment asks."""
    if SHARED.is_dir():
        return SHARED
    if os.environ.get("WATCHDOG_REQUIRE_SHARED") == "1":
        pytest.fail(f"{SHARED} is absent but WATCHDOG_REQUIRE_SHARED=1")
    pytest.skip(f"{SHARED} is absent (a user's clone has no ../shared)")


def require_service(name: str, available: bool, why: str) -> None:
    """Skip (or fail under WATCHDOG_REQUIRE_SERVICES=1) when a loopback service is missing."""
    if available:
        return
    if os.environ.get("WATCHDOG_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (WATCHDOG_REQUIRE_SERVICES=1) but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")


@pytest.fixture
def shared_dir() -> Path:
    return require_shared()


@pytest.fixture
def root_dir() -> Path:
    return ROOT


@pytest.fixture
def fake_clock():
    from watchdog.testing.fakeclock import FakeClock

    return FakeClock()
