"""Shared test fixtures: the ../shared data folder and loopback services.

Tests that need ../shared skip with a reason when it is absent (a user's clone
has none) and fail instead under WATCHDOG_REQUIRE_SHARED=1 (set by .ci/run).
Tests that need PostgreSQL/Prometheus skip unless WATCHDOG_REQUIRE_SERVICES=1.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from watchdog.testing.env import ROOT, SHARED, require_service, require_shared  # noqa: F401 (re-exported)


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
