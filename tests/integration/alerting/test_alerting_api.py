"""Groups, acks, silences and POST /api/v2/alerts on a real aiohttp server, with a real Dispatcher and SqliteStore.

The CLI client commands run against the same server (in a worker thread, so
the server keeps serving on this loop).
"""

from __future__ import annotations

import asyncio
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
from watchdog.state.sqlite import SqliteStore

TOKEN = "s3cret-token"


@dataclass
class Ctx:
    clock: Any
    store: Any
    dispatcher: Any
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
    store = SqliteStore(str(tmp_path / "wd.db"))
    await store.open()
    alerting = AlertingConfig.model_validate({
        "route": {"receiver": "oncall", "group_by": ["alertname"], "routes": [{"matchers": ['team="db"'], "receiver": "db"}]},
        "receivers": [{"name": "oncall", "log_configs": [{}]}, {"name": "db", "log_configs": [{}]}],
    })
    dispatcher = Dispatcher(alerting, store=store, clock=fake_clock)
    ctx = Ctx(clock=fake_clock, store=store, dispatcher=dispatcher)
    server = TestServer(build_api(ctx), host="127.0.0.1", port=0)
    await server.start_server()
    url = str(server.make_url("/")).rstrip("/")
    async with aiohttp.ClientSession(base_url=url + "/") as session:
        yield ctx, session, url
    await server.close()
    await dispatcher.close()
    await store.close()


AUTH = {"Authorization": f"Bearer {TOKEN}"}


async def test_v2_alerts_intake_forms_groups_and_ack_round_trip(served):
    ctx, http, _ = served
    body = [{"labels": {"alertname": "DiskFull", "team": "db", "instance": "db-1"}, "annotations": {"summary": "disk"},
             "startsAt": "2023-11-14T22:00:00Z"},
            {"labels": {"alertname": "Old"}, "startsAt": "2023-11-14T20:00:00Z", "endsAt": "2023-11-14T21:00:00Z"}]
    resp = await http.post("api/v2/alerts", json=body)
    assert resp.status == 401                                            # no bearer token: refused
    resp = await http.post("api/v2/alerts", json=body, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["data"] == {"received": 2}
    groups = (await (await http.get("api/v1/groups")).json())["data"]["groups"]
    db = next(g for g in groups if g["receiver"] == "db")
    assert db["labels"] == {"alertname": "DiskFull"} and db["alerts"][0]["state"] == "firing"
    assert next(g for g in groups if g["receiver"] == "oncall")["alerts"][0]["state"] == "resolved"

    resp = await http.post(f"api/v1/groups/{db['id']}/ack", json={"by": "alice", "comment": "on it"}, headers=AUTH)
    assert resp.status == 200 and (await resp.json())["data"]["acknowledged"]["by"] == "alice"
    assert ctx.dispatcher.is_acknowledged({"alertname": "DiskFull", "team": "db"})
    resp = await http.delete(f"api/v1/groups/{db['id']}/ack", headers=AUTH)
    assert (await resp.json())["data"] == {"unacknowledged": True}
    assert not ctx.dispatcher.is_acknowledged({"alertname": "DiskFull", "team": "db"})
    resp = await http.post("api/v1/groups/feedface00/ack", json={}, headers=AUTH)
    assert resp.status == 404


@pytest.mark.parametrize("body, message", [
    ({"matchers": ['alertname=~".*"'], "duration": "1h"}, "match every alert"),
    ({"matchers": ['alertname="A"'], "startsAt": 1_700_000_100, "endsAt": 1_700_000_050}, "end after it starts"),
    ({"matchers": ['alertname="A'], "duration": "1h"}, "unterminated"),
    ({"matchers": [], "duration": "1h"}, "non-empty list"),
    ({"matchers": ['alertname="A"']}, "endsAt or duration"),
])
async def test_bad_silences_are_refused_with_a_clear_message(served, body, message):
    _, http, _ = served
    resp = await http.post("api/v1/silences", json=body, headers=AUTH)
    payload = await resp.json()
    assert resp.status == 400 and payload["errorType"] == "bad_data" and message in payload["error"]


async def test_bad_v2_alerts_are_refused(served):
    _, http, _ = served
    for body in ({"labels": {}}, [{"labels": {}}], [{"labels": {"bad-name": "x"}}], [{"labels": {"a": 1}}]):
        resp = await http.post("api/v2/alerts", json=body, headers=AUTH)
        assert resp.status == 400, body


async def test_silence_api_accepts_alertmanager_matcher_objects(served):
    ctx, http, _ = served
    body = {"matchers": [{"name": "host", "value": "db-.*", "isRegex": True, "isEqual": True}],
            "startsAt": ctx.clock.now(), "endsAt": ctx.clock.now() + 60, "createdBy": "am", "comment": "x"}
    resp = await http.post("api/v1/silences", json=body, headers=AUTH)
    assert resp.status == 200
    assert ctx.dispatcher.is_silenced({"host": "db-7"}) and not ctx.dispatcher.is_silenced({"host": "web-1"})


async def test_cli_silence_add_ls_expire_and_ack_against_the_api(served, monkeypatch, capsys):
    ctx, http, url = served
    monkeypatch.setenv("WATCHDOG_TOKEN", TOKEN)

    def run(*argv: str) -> int:
        return cli.main(list(argv))

    code = await asyncio.to_thread(run, "silence", "add", "--url", url, 'alertname="A"', "--duration", "2h",
                                   "--comment", "deploy")
    assert code == 0
    sid = capsys.readouterr().out.strip()
    assert ctx.dispatcher.is_silenced({"alertname": "A"})
    assert await asyncio.to_thread(run, "silence", "ls", "--url", url) == 0
    listing = capsys.readouterr().out
    assert sid in listing and "deploy" in listing and "active" in listing
    assert await asyncio.to_thread(run, "silence", "expire", "--url", url, sid) == 0
    assert not ctx.dispatcher.is_silenced({"alertname": "A"})
    assert await asyncio.to_thread(run, "silence", "expire", "--url", url, sid) == 1      # already expired
    assert "already expired" in capsys.readouterr().err

    await ctx.dispatcher.on_alerts([], ctx.clock.now())
    resp = await http.post("api/v2/alerts", json=[{"labels": {"alertname": "B"}}], headers=AUTH)
    assert resp.status == 200
    gid = ctx.dispatcher.groups()[0]["id"]
    assert await asyncio.to_thread(run, "ack", "--url", url, gid[:12], "--comment", "mine") == 0
    assert ctx.dispatcher.groups()[0]["acknowledged"]["comment"] == "mine"
    assert await asyncio.to_thread(run, "alerts", "--groups", "--url", url) == 0
    assert gid[:12] in capsys.readouterr().out
    assert await asyncio.to_thread(run, "unack", "--url", url, gid[:12]) == 0
    assert ctx.dispatcher.groups()[0]["acknowledged"] is None
    monkeypatch.delenv("WATCHDOG_TOKEN")
    assert await asyncio.to_thread(run, "ack", "--url", url, gid[:12]) == 1                # no token: refused


async def test_silence_whose_matchers_all_match_the_empty_string_is_refused(served):
    """Alertmanager's rule: at least one matcher must not match the empty string (`foo!="x"` alone would match all)."""
    _, http, _ = served
    for matchers in (['foo!="x"'], ['foo=""', 'bar!~"y"'], ['a=~"b|"']):
        resp = await http.post("api/v1/silences", json={"matchers": matchers, "duration": "1h"}, headers=AUTH)
        payload = await resp.json()
        assert resp.status == 400 and "must not match an empty label value" in payload["error"], matchers
    resp = await http.post("api/v1/silences", json={"matchers": ['foo!="x"', 'team="db"'], "duration": "1h"}, headers=AUTH)
    assert resp.status == 200


@pytest.mark.parametrize("method, path, body", [
    ("POST", "api/v1/silences", {"matchers": ['alertname="A"'], "duration": "1h"}),
    ("DELETE", "api/v1/silences/some-id", None),
    ("POST", "api/v1/groups/abcdef012345/ack", {"by": "x"}),
    ("DELETE", "api/v1/groups/abcdef012345/ack", None),
    ("POST", "api/v2/alerts", [{"labels": {"alertname": "A"}}]),
])
async def test_mutating_calls_are_refused_when_no_token_is_configured(served, method, path, body):
    ctx, http, _ = served
    ctx.token = None
    resp = await http.request(method, path, json=body, headers=AUTH)
    payload = await resp.json()
    assert resp.status == 403 and "no api.token_file" in payload["error"]
    assert ctx.dispatcher.silences() == [] and ctx.dispatcher.groups() == []


async def test_reads_are_open_unless_a_read_token_is_set(served):
    ctx, http, _ = served
    for path in ("api/v1/groups", "api/v1/silences"):
        assert (await http.get(path)).status == 200
    ctx.read_token = SecretStr("reader")
    for path in ("api/v1/groups", "api/v1/silences"):
        assert (await http.get(path)).status == 401
        assert (await http.get(path, headers={"Authorization": "Bearer reader"})).status == 200
        assert (await http.get(path, headers=AUTH)).status == 200           # the write token also reads


async def test_groups_show_silenced_and_inhibited_alerts_and_the_silence_list(served):
    ctx, http, _ = served
    resp = await http.post("api/v1/silences", headers=AUTH, json={
        "matchers": ['instance="db-2"'], "duration": "2h", "createdBy": "bob", "comment": "disk swap"})
    sid = (await resp.json())["data"]["silenceID"]
    resp = await http.post("api/v2/alerts", headers=AUTH, json=[
        {"labels": {"alertname": "DiskFull", "team": "db", "instance": "db-1"}, "annotations": {"summary": "s"},
         "generatorURL": "http://prom/graph"},
        {"labels": {"alertname": "DiskFull", "team": "db", "instance": "db-2"}}])
    assert resp.status == 200
    group = next(g for g in (await (await http.get("api/v1/groups")).json())["data"]["groups"] if g["receiver"] == "db")
    assert set(group) >= {"id", "key", "labels", "receiver", "receivers", "escalation", "acknowledged", "muted", "alerts"}
    assert group["receivers"] == ["db"] and group["escalation"] is None and group["acknowledged"] is None
    by_instance = {a["labels"]["instance"]: a for a in group["alerts"]}
    assert by_instance["db-2"]["silenced_by"] == [sid] and by_instance["db-1"]["silenced_by"] == []
    assert by_instance["db-1"]["inhibited"] is False and by_instance["db-1"]["annotations"] == {"summary": "s"}
    silences = (await (await http.get("api/v1/silences")).json())["data"]["silences"]
    assert [(s["id"], s["createdBy"], s["comment"], s["status"]["state"]) for s in silences] == [(sid, "bob", "disk swap", "active")]


async def test_cli_alerts_lists_the_daemons_alerts(served, monkeypatch, capsys):
    from watchdog.model import Alert, AlertState, Labels

    ctx, _, url = served
    now = ctx.clock.now()
    shown = [Alert(labels=Labels.of(alertname="DemoServiceDown", target="demo"), annotations={"summary": "demo is down"},
                   state=AlertState.FIRING, active_at=now - 60, fired_at=now - 30),
             Alert(labels=Labels.of(alertname="Quiet"), annotations={}, state=AlertState.INACTIVE, active_at=now)]
    monkeypatch.setattr(ctx, "alerts", lambda: shown, raising=False)
    code = await asyncio.to_thread(cli.main, ["alerts", "--url", url])
    out = capsys.readouterr().out
    assert code == 0
    assert out.splitlines()[0].split() == ["Alertname", "State", "Active", "Since", "Labels", "Summary"]
    row = out.splitlines()[-1]
    assert row.split()[:2] == ["DemoServiceDown", "firing"] and "target=demo" in row and "demo is down" in row
    assert "Quiet" not in out                                                # inactive alerts are not listed


async def test_v2_alert_resolves_at_its_ends_at_unless_sent_again(served):
    """Alertmanager's rule: a posted alert with endsAt resolves then unless re-sent (Prometheus re-sends while firing)."""
    from watchdog.api.format import rfc3339

    ctx, http, _ = served
    t0 = ctx.clock.now()

    def post(ends_in: float):
        return http.post("api/v2/alerts", headers=AUTH, json=[
            {"labels": {"alertname": "Lag", "instance": "a"}, "startsAt": rfc3339(t0), "endsAt": rfc3339(ctx.clock.now() + ends_in)}])

    assert (await post(120)).status == 200
    ctx.clock.advance(100)
    assert (await post(120)).status == 200                                  # re-sent: now valid until t0+220
    ctx.clock.advance(110)                                                  # t0+210: the first endsAt has passed
    await ctx.dispatcher.process_due()
    states = lambda: [a["state"] for g in ctx.dispatcher.groups() for a in g["alerts"]]  # noqa: E731
    assert states() == ["firing"]
    ctx.clock.advance(100)                                                  # t0+310: past the refreshed endsAt
    assert states() == ["firing"]                                           # known at the group's next flush
    ctx.clock.advance(200)                                                  # t0+510: group_interval (5m) after t0+210
    await ctx.dispatcher.process_due()
    events = await ctx.store.events(kinds=["notification.sent"])
    assert [e.data["status"] for e in events] == ["firing", "resolved"]
