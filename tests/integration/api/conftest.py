"""A real aiohttp server running build_api over a context built from real components where they exist."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from watchdog.api import RuleGroupView, TargetView, build_api
from watchdog.model import Alert


@dataclass
class ApiTestContext:
    """Implements watchdog.api.context.ApiContext for tests; the store and engine are the real ones."""

    clock: Any
    store: Any
    engine: Any = None
    ready: bool = False
    token: SecretStr | None = None
    read_token: SecretStr | None = None
    alert_list: list[Alert] = field(default_factory=list)
    target_list: list[TargetView] = field(default_factory=list)
    groups: list[RuleGroupView] = field(default_factory=list)
    reload_result: tuple[bool, list[str]] = (True, [])
    reloads: int = 0

    def alerts(self):
        return list(self.alert_list)

    def targets(self):
        return list(self.target_list)

    def rule_health(self):
        return list(self.groups)

    async def reload(self):
        self.reloads += 1
        return self.reload_result


@pytest.fixture
async def sqlite_store(tmp_path):
    from watchdog.state.sqlite import SqliteStore

    store = SqliteStore(str(tmp_path / "api.db"))
    await store.open()
    yield store
    await store.close()


@pytest.fixture
async def api(fake_clock, sqlite_store):
    """(ctx, session) where session talks to a real server on 127.0.0.1."""
    ctx = ApiTestContext(clock=fake_clock, store=sqlite_store)
    server = TestServer(build_api(ctx), host="127.0.0.1", port=0)
    await server.start_server()
    async with aiohttp.ClientSession(base_url=str(server.make_url("/"))) as session:
        yield ctx, session
    await server.close()
