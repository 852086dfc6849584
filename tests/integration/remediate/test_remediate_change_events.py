"""Change events forwarded to PagerDuty Change Events: a local aiohttp server answers as PagerDuty does."""

from __future__ import annotations

import json
import logging

import pytest
from aiohttp import web

from watchdog.config.models import ChangeEventsConfig, Config
from watchdog.promql import Engine
from watchdog.remediate.changes import CHANGE_CURSOR_KEY, ChangeForwarder, record_change
from watchdog.remediate.remediator import Remediator
from watchdog.notify.pagerduty_changes import PagerdutyChangeSender, change_event_body
from watchdog.state.base import ChangeRecord
from watchdog.state.sqlite import SqliteStore
from watchdog.tsdb import SeriesStore

KEY = "R0UT1NGKEYsecret0000000000000000"


@pytest.fixture
async def pagerduty():
    """POST /v2/change/enqueue; `answers` is a list of statuses to give, in order (then 202)."""
    seen: list[dict] = []
    answers: list[int] = []

    async def enqueue(request: web.Request) -> web.Response:
        seen.append(json.loads(await request.read()))
        status = answers.pop(0) if answers else 202
        if status == 202:
            return web.json_response({"status": "success", "message": "Change event processed"}, status=202)
        if status == 400:
            return web.json_response({"status": "invalid event", "message": "Event object is invalid",
                                      "errors": ["'payload.summary' is missing"]}, status=400)
        return web.Response(status=status, text="unavailable")

    app = web.Application()
    app.router.add_post("/v2/change/enqueue", enqueue)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/v2/change/enqueue", seen, answers
    await runner.cleanup()


@pytest.fixture
async def store(tmp_path, fake_clock):
    s = SqliteStore(str(tmp_path / "wd.db"), clock=fake_clock)
    await s.open()
    yield s
    await s.close()


def section(url: str, **extra) -> ChangeEventsConfig:
    return ChangeEventsConfig.model_validate({"pagerduty": {"routing_key": KEY, "url": url, "timeout": "2s", **extra}})


def test_the_body_is_pagerdutys_change_event_shape():
    body = change_event_body({"id": 7, "service": "demo", "version": "v42", "previous_version": "v41", "time": 1_700_000_000.5,
                              "link": "https://ci.example/builds/42", "labels": {"env": "prod"}, "created_by": "ci"},
                             routing_key="k", source="watchdog-daemon")
    assert body == {
        "routing_key": "k",
        "payload": {"summary": "demo v42 deployed (was v41)", "timestamp": "2023-11-14T22:13:20.5Z", "source": "watchdog-daemon",
                    "custom_details": {"service": "demo", "version": "v42", "previous_version": "v41", "created_by": "ci",
                                       "id": 7, "labels": {"env": "prod"}}},
        "links": [{"href": "https://ci.example/builds/42", "text": "Change"}],
    }


def test_the_config_section_needs_exactly_one_key_and_is_optional():
    assert Config.model_validate({}).change_events.pagerduty is None
    with pytest.raises(ValueError, match="exactly one of routing_key and routing_key_file"):
        ChangeEventsConfig.model_validate({"pagerduty": {}})
    with pytest.raises(ValueError, match="exactly one"):
        ChangeEventsConfig.model_validate({"pagerduty": {"routing_key": "a", "routing_key_file": "/k"}})
    with pytest.raises(ValueError, match="http"):
        ChangeEventsConfig.model_validate({"pagerduty": {"routing_key": "a", "url": "file:///etc/passwd"}})
    assert KEY not in repr(section("http://127.0.0.1:1/"))


async def test_recorded_changes_reach_pagerduty_through_the_remediator_once_each(pagerduty, store, fake_clock):
    url, seen, _ = pagerduty
    r = Remediator([], store=store, engine=Engine(SeriesStore()), clock=fake_clock, change_events=section(url))
    await record_change(store, ChangeRecord(service="demo", version="v2", previous_version="v1", time=fake_clock.now(),
                                            link="https://ci.example/2"), fake_clock)
    await r.on_alerts([], fake_clock.now())      # every rule round starts a forwarding round in the background
    await r.forward_changes()
    assert [b["payload"]["summary"] for b in seen] == ["demo v2 deployed (was v1)"]
    assert seen[0]["routing_key"] == KEY and seen[0]["links"] == [{"href": "https://ci.example/2", "text": "Change"}]
    await record_change(store, ChangeRecord(service="demo", version="v3", previous_version="v2", time=fake_clock.now()), fake_clock)
    await r.forward_changes()
    await r.forward_changes()
    assert [b["payload"]["custom_details"]["version"] for b in seen] == ["v2", "v3"]
    assert [e.data["version"] for e in await store.events(kinds=["change.forwarded"])] == ["v2", "v3"]
    # a restarted daemon continues from the stored cursor: nothing is sent twice
    again = Remediator([], store=store, engine=Engine(SeriesStore()), clock=fake_clock, change_events=section(url))
    await again.forward_changes()
    assert len(seen) == 2
    await again.drain(1.0)
    await r.drain(1.0)


async def test_a_retryable_failure_is_retried_in_order_and_a_rejection_is_recorded(pagerduty, store, fake_clock, caplog):
    url, seen, answers = pagerduty
    sender = PagerdutyChangeSender(section(url).pagerduty, clock=fake_clock)
    forwarder = ChangeForwarder(sender, store=store, clock=fake_clock)
    for version in ("v1", "v2"):
        await record_change(store, ChangeRecord(service="demo", version=version, time=fake_clock.now()), fake_clock)
    answers.extend([503, 400])
    with caplog.at_level(logging.WARNING):
        assert await forwarder.forward_new() == 0          # 503: stop, keep the order
        assert [b["payload"]["custom_details"]["version"] for b in seen] == ["v1"]
        assert await forwarder.forward_new() == 1          # v1 rejected (400) and skipped, v2 sent
    assert [b["payload"]["custom_details"]["version"] for b in seen] == ["v1", "v1", "v2"]
    (failed,) = [e.data for e in await store.events(kinds=["change.forward_failed"])]
    assert failed["version"] == "v1" and "400" in failed["reason"] and "payload.summary" in failed["reason"]
    assert KEY not in caplog.text and KEY not in failed["reason"]
    await forwarder.close()


async def test_a_change_pagerduty_keeps_refusing_is_given_up_after_the_retry_window(pagerduty, store, fake_clock):
    url, seen, answers = pagerduty
    forwarder = ChangeForwarder(PagerdutyChangeSender(section(url).pagerduty, clock=fake_clock), store=store, clock=fake_clock)
    await record_change(store, ChangeRecord(service="demo", version="v1", time=fake_clock.now()), fake_clock)
    answers.extend([500, 500])
    assert await forwarder.forward_new() == 0
    fake_clock.advance(3601)
    assert await forwarder.forward_new() == 0
    (failed,) = [e.data for e in await store.events(kinds=["change.forward_failed"])]
    assert failed["reason"].startswith("gave up after 1h")
    assert await store.kv_get(CHANGE_CURSOR_KEY) == "1" and len(seen) == 2
    await forwarder.close()


async def test_a_newly_configured_forwarder_sends_only_recent_changes_and_reads_the_key_file(pagerduty, store, fake_clock, tmp_path):
    url, seen, _ = pagerduty
    key_file = tmp_path / "pd.key"
    key_file.write_text("FILEKEY\n")
    cfg = ChangeEventsConfig.model_validate({"pagerduty": {"routing_key_file": str(key_file), "url": url}})
    await record_change(store, ChangeRecord(service="demo", version="old", time=fake_clock.now() - 7200), fake_clock)
    await record_change(store, ChangeRecord(service="demo", version="new", time=fake_clock.now() - 60), fake_clock)
    forwarder = ChangeForwarder(PagerdutyChangeSender(cfg.pagerduty, clock=fake_clock), store=store, clock=fake_clock)
    assert await forwarder.forward_new() == 1
    assert [(b["routing_key"], b["payload"]["custom_details"]["version"]) for b in seen] == [("FILEKEY", "new")]
    await forwarder.close()
