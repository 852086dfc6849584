"""The HTTP API over a real aiohttp server and a real SQLite store."""

from __future__ import annotations

from pydantic import SecretStr

from watchdog.api import RuleGroupView, TargetView
from watchdog.model import Alert, AlertState, Event, Labels

T0 = 1_700_000_000.0


async def test_healthz_and_readyz(api):
    ctx, session = api
    async with session.get("/healthz") as r:
        assert r.status == 200
    async with session.get("/readyz") as r:
        assert r.status == 503
    ctx.ready = True
    async with session.get("/readyz") as r:
        assert r.status == 200


async def test_metrics_exposition_counts_requests(api):
    _, session = api
    async with session.get("/healthz"):
        pass
    async with session.get("/metrics") as r:
        assert r.status == 200
        assert r.headers["Content-Type"].startswith("text/plain; version=")
        text = await r.text()
    assert 'watchdog_api_requests_total{code="200",handler="/healthz"}' in text


async def test_alerts_shape_and_resolved_retention(api, fake_clock):
    ctx, session = api
    firing = Alert(Labels.of(alertname="Down", target="demo"), {"summary": "s"}, AlertState.FIRING, T0 - 60, value=0.0, fired_at=T0 - 30)
    resolved_recent = Alert(Labels.of(alertname="Old", n="1"), {}, AlertState.RESOLVED, T0 - 900, value=1.0, fired_at=T0 - 800, resolved_at=T0 - 60)
    resolved_long_ago = Alert(Labels.of(alertname="Old", n="2"), {}, AlertState.RESOLVED, T0 - 9000, fired_at=T0 - 8000, resolved_at=T0 - 3600)
    ctx.alert_list = [firing, resolved_recent, resolved_long_ago]
    async with session.get("/api/v1/alerts") as r:
        body = await r.json()
    assert r.status == 200 and body["status"] == "success"
    alerts = body["data"]["alerts"]
    assert [a["labels"]["alertname"] for a in alerts] == ["Down", "Old"]
    assert alerts[0] == {
        "labels": {"alertname": "Down", "target": "demo"},
        "annotations": {"summary": "s"},
        "state": "firing",
        "activeAt": "2023-11-14T22:12:20Z",
        "firedAt": "2023-11-14T22:12:50Z",
        "resolvedAt": None,
        "value": "0e+00",
        "fingerprint": firing.fingerprint,
    }
    assert alerts[1]["resolvedAt"] == "2023-11-14T22:12:20Z"


async def test_targets(api):
    ctx, session = api
    ctx.target_list = [TargetView("demo", "http", "http://127.0.0.1:9798/health", {"service": "demo"}, "down", T0, 0.25, "HTTP 500")]
    async with session.get("/api/v1/targets") as r:
        body = await r.json()
    assert body["data"]["targets"] == [{
        "name": "demo", "type": "http", "instance": "http://127.0.0.1:9798/health", "labels": {"service": "demo"},
        "health": "down", "lastProbe": "2023-11-14T22:13:20Z", "lastDuration": 0.25, "lastError": "HTTP 500",
    }]


async def test_events_since_limit_and_bad_values(api):
    ctx, session = api
    for i in range(5):
        await ctx.store.append_event(Event(T0 + i, "alert.firing" if i % 2 else "alert.pending", {"labels": {"alertname": "A"}, "i": i}))
    async with session.get("/api/v1/events") as r:
        events = (await r.json())["data"]["events"]
    assert [e["i"] for e in events] == [0, 1, 2, 3, 4]
    assert events[0]["time"] == "2023-11-14T22:13:20Z" and events[0]["kind"] == "alert.pending"
    async with session.get("/api/v1/events", params={"since": str(T0 + 2), "limit": "2"}) as r:
        assert [e["i"] for e in (await r.json())["data"]["events"]] == [2, 3]
    async with session.get("/api/v1/events", params={"since": "2023-11-14T22:13:23Z"}) as r:
        assert [e["i"] for e in (await r.json())["data"]["events"]] == [3, 4]
    async with session.get("/api/v1/events", params={"kind": "alert.firing"}) as r:
        assert [e["i"] for e in (await r.json())["data"]["events"]] == [1, 3]
    for params in ({"since": "last tuesday"}, {"limit": "0"}, {"limit": "many"}):
        async with session.get("/api/v1/events", params=params) as r:
            body = await r.json()
            assert r.status == 400
            assert body["status"] == "error" and body["errorType"] == "bad_data"


async def test_rules(api):
    ctx, session = api
    ctx.groups = [RuleGroupView("demo", "rules/demo.rules.yml", 10.0, "err", "boom", 0.002, T0, [{"name": "DemoServiceDown", "type": "alerting"}])]
    async with session.get("/api/v1/rules") as r:
        groups = (await r.json())["data"]["groups"]
    assert groups == [{
        "name": "demo", "file": "rules/demo.rules.yml", "interval": 10.0, "limit": 0, "queryOffset": 0.0, "health": "err", "lastError": "boom",
        "evaluationTime": 0.002, "lastEvaluation": "2023-11-14T22:13:20Z", "rules": [{"name": "DemoServiceDown", "type": "alerting"}],
    }]


async def test_reload_auth(api):
    ctx, session = api
    async with session.post("/-/reload") as r:
        assert r.status == 403
        assert (await r.json())["errorType"] == "forbidden"
    assert ctx.reloads == 0
    ctx.token = SecretStr("s3cret-token")
    async with session.post("/-/reload") as r:
        assert r.status == 401
    async with session.post("/-/reload", headers={"Authorization": "Bearer wrong"}) as r:
        assert r.status == 401
        assert "s3cret" not in await r.text()
    assert ctx.reloads == 0
    async with session.post("/-/reload", headers={"Authorization": "Bearer s3cret-token"}) as r:
        assert r.status == 200
        assert (await r.json())["data"] == {"reloaded": True}
    assert ctx.reloads == 1
    ctx.reload_result = (False, ["config.yaml:3:5: targets[0].url: Field required"])
    async with session.post("/-/reload", headers={"Authorization": "Bearer s3cret-token"}) as r:
        body = await r.json()
    assert r.status == 500 and body["errorType"] == "reload_failed"
    assert body["errors"] == ["config.yaml:3:5: targets[0].url: Field required"]


async def test_read_token_guards_reads_but_not_health(api):
    ctx, session = api
    ctx.read_token = SecretStr("reader")
    ctx.token = SecretStr("writer")
    async with session.get("/api/v1/alerts") as r:
        assert r.status == 401
    async with session.get("/metrics") as r:
        assert r.status == 401
    async with session.get("/api/v1/alerts", headers={"Authorization": "Bearer reader"}) as r:
        assert r.status == 200
    async with session.get("/api/v1/alerts", headers={"Authorization": "Bearer writer"}) as r:
        assert r.status == 200
    async with session.get("/healthz") as r:
        assert r.status == 200


async def test_errors_become_envelopes_without_internals(api):
    ctx, session = api

    def broken():
        raise RuntimeError("secret internal detail /etc/passwd")

    ctx.targets = broken
    async with session.get("/api/v1/targets") as r:
        body = await r.json()
        assert r.status == 500
    assert body == {"status": "error", "errorType": "internal", "error": "internal error"}
    async with session.get("/api/v1/nope") as r:
        assert r.status == 404
        assert (await r.json())["errorType"] == "not_found"
    async with session.get("/metrics") as r:
        text = await r.text()
    assert 'watchdog_api_requests_total{code="500",handler="/api/v1/targets"}' in text
    assert 'watchdog_api_requests_total{code="404",handler="unmatched"}' in text


async def test_body_size_limit(api):
    ctx, session = api
    ctx.token = SecretStr("t")
    async with session.post("/api/v1/query", data={"query": "x" * 400_000}) as r:
        assert r.status == 413
        assert (await r.json())["status"] == "error"
