"""Where the tests (and drills) find the repo and the optional outside pieces.

Lives in the package rather than a conftest so any test module can import it
without clashing with the several `conftest.py` files pytest puts on sys.path.
"""

from __future__ import annotations

import os
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SHARED = Path(os.environ.get("WATCHDOG_SHARED_DIR", str(ROOT.parent / "shared")))


def require_shared() -> Path:
    """Return the ../shared path, or skip (fail under WATCHDOG_REQUIRE_SHARED=1) when absent."""
    import pytest

    if SHARED.is_dir():
        return SHARED
    if os.environ.get("WATCHDOG_REQUIRE_SHARED") == "1":
        pytest.fail(f"{SHARED} is absent but WATCHDOG_REQUIRE_SHARED=1")
    pytest.skip(f"{SHARED} is absent (a user's clone has no ../shared)")


def require_service(name: str, available: bool, why: str) -> None:
    """Skip (or fail under WATCHDOG_REQUIRE_SERVICES=1) when a loopback service is missing."""
    import pytest

    if available:
        return
    if os.environ.get("WATCHDOG_REQUIRE_SERVICES") == "1":
        pytest.fail(f"{name} is required (WATCHDOG_REQUIRE_SERVICES=1) but unavailable: {why}")
    pytest.skip(f"{name} unavailable: {why}")
