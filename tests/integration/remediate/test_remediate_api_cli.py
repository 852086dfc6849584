"""Remediation and change endpoints on a real aiohttp server with a real Remediator, Dispatcher and
SqliteStore; the CLI commands run against the same server (in a worker thread)."""

from __future__ import annotations

import asyncio
import stat
import textwrap
from dataclasses import dataclass
from typing import Any

import aiohttp
import pytest
from aiohttp.test_utils import TestServer
from pydantic import SecretStr

from watchdog import cli
from watchdog.alerting.config import AlertingConfig
from watchdog.alerting.dispatcher import Dispatcher
from watchdog.api import build_api
from watchdog.model import Alert, AlertState, Labels
from watchdog.promql import Engine
from watchdog.remediate.remediator import Remediator
from watchdog.remediate.spec import load_remediation_files
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@dataclass
class Ctx:
    clock: Any
    store: Any
    dispatcher: Any
    remediator: Any
    token: SecretStr | None = SecretStr(TOKEN)
    read_token: SecretStr | None = None
    engine: Any = None
    ready: bool = True

    def alerts(self):
        return []

    def targets(self):
        return []

    def rule_health(self):
        return []

    async def reload(self):
        return True, []


@pytest.fixture
async def served(tmp_path, fake_clock):
    sdir = tmp_path / "scripts"
    sdir.mkdir()
    fix = sdir / "fix.sh"
    fix.write_text('#!/bin/sh\necho fixed "$@"\n')
    fix.chmod(fix.stat().st_mode | stat.S_IXUSR)
    (tmp_path / "r.yml").write_text(textwrap.dedent("""
        remediations:
          - name: fix
            match: ['alertname="Down"']
            action: {type: command, argv: [scripts/fix.sh, "--target={{ $labels.target }}"]}
            require_approval: true
            guardrails: {cooldown: 0s}
          - name: manual-fix
            match: ['alertname="Never"']
            action: {type: command, argv: [scripts/fix.sh, "--target={{ $labels.target }}"]}
        """))
    specs, errors = load_remediation_files([str(tmp_path / "r.yml")])
    assert not errors
    store = SqliteStore(str(tmp_path / "wd.db"), clock=fake_clock)
    await store.open()
    alerting = AlertingConfig.model_validate({"route": {"receiver": "oncall"}, "receivers": [{"name": "oncall", "log_configs": [{}]}]})
    dispatcher = Dispatcher(alerting, store=store, clock=fake_clock)
    remediator = Remediator(specs, store=store, engine=Engine(SeriesStore()), clock=fake_clock, notify_now=dispatcher.notify_now)
    ctx = Ctx(clock=fake_clock, store=store, dispatcher=dispatcher, remediator=remediator)
    server = TestServer(build_api(ctx), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession(base_url=url + "/") as session:
        yield ctx, session, url
    await remediator.drain(5)
    await server.close()
    await dispatcher.close()
    await store.close()


async def run_cli(url: str, *argv: str) -> int:
    args = [argv[0], "--url", url, *argv[1:]] if argv[0] != "change" else [argv[0], argv[1], "--url", url, *argv[2:]]
    return await asyncio.to_thread(cli.main, args)


async def test_approval_through_the_api_and_who_approved(served):
    ctx, http, _ = served
    alert = Alert(labels=Labels.of(alertname="Down", target="web"), annotations={}, state=AlertState.FIRING, active_at=ctx.clock.now())
    await ctx.remediator.on_alerts([alert], ctx.clock.now())
    data = (await (await http.get("api/v1/remediations")).json())["data"]
    (run,) = data["runs"]
    assert run["status"] == "awaiting_approval" and data["awaiting_approval"] == [run["id"]] and data["kill_switch"] is False
    assert (await http.post(f"api/v1/remediations/{run['id']}/approve", json={"by": "dave"})).status == 401
    resp = await http.post(f"api/v1/remediations/{run['id']}/approve", json={"by": "dave"}, headers=AUTH)
    body = await resp.json()
    assert resp.status == 200 and body["data"]["approved_by"] == "dave" and body["data"]["status"] == "running"
    resp = await http.post(f"api/v1/remediations/{run['id']}/approve", json={"by": "dave"}, headers=AUTH)
    assert resp.status == 409 and "not awaiting approval" in (await resp.json())["error"]
    assert (await http.post("api/v1/remediations/999/approve", headers=AUTH)).status == 404


async def test_kill_switch_manual_runs_and_changes_through_the_cli(served, monkeypatch):
    ctx, http, url = served
    monkeypatch.setenv("WATCHDOG_TOKEN", TOKEN)
    assert await run_cli(url, "kill-switch", "on", "--by", "erin") == 0
    assert await ctx.remediator.kill_switch() is True
    # a manual run while the switch is on is recorded as skipped (exit 1)
    assert await run_cli(url, "remediate", "manual-fix", "--label", "target=web") == 1
    assert await run_cli(url, "kill-switch", "off") == 0
    assert await run_cli(url, "remediate", "manual-fix", "--label", "target=web", "--dry-run") == 0
    runs = await ctx.store.runs()
    assert [r.status for r in runs] == ["dry_run", "skipped"] and "would have run" in runs[0].note
    assert await run_cli(url, "remediate", "no-such", "--label", "a=b") == 1
    assert await run_cli(url, "remediate", "manual-fix", "--label", "bad") == 2
    assert await run_cli(url, "remediations") == 0

    assert await run_cli(url, "change", "record", "--service", "demo", "--version", "v2", "--previous-version", "v1",
                          "--link", "https://ci.example/42") == 0
    (change,) = await ctx.store.changes()
    assert (change.service, change.version, change.previous_version, change.link) == ("demo", "v2", "v1", "https://ci.example/42")
    listed = (await (await http.get("api/v1/changes?service=demo")).json())["data"]["changes"]
    assert [c["version"] for c in listed] == ["v2"]
    (event,) = await ctx.store.events(kinds=["change.recorded"])
    assert event.data["service"] == "demo" and event.data["previous_version"] == "v1"
    kinds = [e.kind for e in await ctx.store.events(kinds=["remediation.kill_switch"])]
    assert kinds == ["remediation.kill_switch", "remediation.kill_switch"]


@pytest.mark.parametrize("body,message", [
    ({"version": "v1"}, "service: required"),
    ({"service": "demo", "version": 3}, "version: must be a string"),
    ({"service": "demo", "version": "v1", "link": "javascript:alert(1)"}, "link: must be an http(s) URL"),
    ({"service": "demo", "version": "v1", "labels": {"bad-name": "x"}}, "labels: must map label names"),
    ({"service": "demo", "version": "v1", "extra": 1}, "unknown field(s): extra"),
    (["not", "an", "object"], "body must be a JSON object"),
])
async def test_bad_change_events_are_400_with_the_reason(served, body, message):
    ctx, http, _ = served
    resp = await http.post("api/v1/changes", json=body, headers=AUTH)
    assert resp.status == 400 and message in (await resp.json())["error"]
    assert await ctx.store.changes() == []


async def test_change_post_needs_the_write_token(served):
    _, http, _ = served
    resp = await http.post("api/v1/changes", json={"service": "demo", "version": "v1"})
    assert resp.status == 401


async def test_approval_through_the_cli_and_the_kill_switch_and_manual_runs_through_the_api(served, monkeypatch):
    ctx, http, url = served
    monkeypatch.setenv("WATCHDOG_TOKEN", TOKEN)
    # kill switch through the API: an alert is not remediated while it is on, and it is on the timeline
    assert (await http.post("api/v1/remediations/kill-switch", json={"by": "frank"})).status == 401
    resp = await http.post("api/v1/remediations/kill-switch", json={"by": "frank"}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["data"] == {"kill_switch": True}
    alert = Alert(labels=Labels.of(alertname="Down", target="web"), annotations={}, state=AlertState.FIRING, active_at=ctx.clock.now())
    await ctx.remediator.on_alerts([alert], ctx.clock.now())
    assert await ctx.store.runs() == []
    resp = await http.post("api/v1/remediations/manual-fix/run", json={"labels": {"target": "web"}}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["data"]["status"] == "skipped"
    assert (await http.delete("api/v1/remediations/kill-switch", headers=AUTH)).status == 200
    assert (await (await http.get("api/v1/remediations")).json())["data"]["kill_switch"] is False
    switched = [e.data for e in await ctx.store.events(kinds=["remediation.kill_switch"])]
    assert [(d["on"], d["by"]) for d in switched] == [(True, "frank"), (False, "api")]

    # a manual run through the API: same recording, trigger "manual"
    resp = await http.post("api/v1/remediations/manual-fix/run", json={"labels": {"target": "web"}, "dry_run": True}, headers=AUTH)
    body = (await resp.json())["data"]
    assert resp.status == 201 and body["status"] == "dry_run" and body["trigger"] == "manual"

    # approval through the CLI (`watchdog approve ID --by NAME`)
    await ctx.remediator.on_alerts([alert], ctx.clock.now())
    (parked,) = [r for r in await ctx.store.runs() if r.status == "awaiting_approval"]
    assert await run_cli(url, "approve", str(parked.id), "--by", "grace") == 0
    approved = await ctx.store.get_run(parked.id)
    assert approved.approved_by == "grace" and approved.status in ("running", "succeeded")
    assert await run_cli(url, "approve", str(parked.id)) == 1          # not awaiting approval any more
