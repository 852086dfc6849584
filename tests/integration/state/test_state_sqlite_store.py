"""SqliteStore against a real SQLite file in tmp_path: every Store method round-trips and survives a restart."""

from __future__ import annotations

import asyncio
import math
import os
import stat
import threading

import pytest

from watchdog.model import Event
from watchdog.state.base import AlertRecord, NotificationRecord, OutboxItem, RemediationRun, StoreError
from watchdog.state.migrations.sqlite import SCHEMA_VERSION
from watchdog.state.sqlite import INTERRUPTED_NOTE, SqliteStore

T0 = 1_700_000_000.0


@pytest.fixture
def db_path(tmp_path):
    return str(tmp_path / "data" / "watchdog.db")


@pytest.fixture
async def store(db_path, fake_clock):
    s = SqliteStore(db_path, clock=fake_clock)
    await s.open()
    yield s
    await s.close()


def make_run(**kw) -> RemediationRun:
    base = dict(
        spec="restart-demo", alert_fingerprint="abc123", labels={"target": "demo"}, status="pending",
        created_at=T0, target="demo", trigger="alert", action={"type": "command", "argv": ["x", "--target=demo"]},
    )
    base.update(kw)
    return RemediationRun(**base)


async def test_open_creates_parent_dir_file_mode_0600_and_wal(db_path, fake_clock):
    async with SqliteStore(db_path, clock=fake_clock) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert stat.S_IMODE(os.stat(db_path).st_mode) == 0o600
        await s.append_event(Event(T0, "x"))  # forces the WAL file into existence
        assert os.path.exists(db_path + "-wal")
        assert stat.S_IMODE(os.stat(db_path + "-wal").st_mode) & 0o077 == 0

    def pragmas():
        import sqlite3

        conn = sqlite3.connect(db_path)
        try:
            return conn.execute("PRAGMA journal_mode").fetchone()[0]
        finally:
            conn.close()

    assert pragmas() == "wal"


async def test_statements_run_off_the_event_loop_thread(store):
    seen: list[str] = []
    await store._call("probe", lambda conn: seen.append(threading.current_thread().name))
    assert seen and seen[0].startswith("watchdog-sqlite")
    assert seen[0] != threading.current_thread().name


async def test_events_round_trip_oldest_first_with_since_limit_and_kinds(store):
    ids = [
        await store.append_event(Event(T0 + 2, "alert.firing", {"labels": {"a": "1"}, "value": 3.5})),
        await store.append_event(Event(T0 + 1, "notification.sent", {"receiver": "oncall"})),
        await store.append_event(Event(T0 + 3, "alert.resolved", {"n": [1, 2]})),
    ]
    assert ids == sorted(ids) and len(set(ids)) == 3
    got = await store.events()
    assert [e.kind for e in got] == ["notification.sent", "alert.firing", "alert.resolved"]
    assert got[1] == Event(T0 + 2, "alert.firing", {"labels": {"a": "1"}, "value": 3.5}, id=ids[0])
    assert [e.time for e in await store.events(since=T0 + 2)] == [T0 + 2, T0 + 3]
    assert [e.time for e in await store.events(limit=2)] == [T0 + 1, T0 + 2]
    assert [e.kind for e in await store.events(kinds=["alert.resolved", "notification.sent"])] == [
        "notification.sent", "alert.resolved"]
    assert len(await store.events(kinds=[])) == 3  # empty = every kind
    assert await store.events(limit=0) == []


async def test_alerts_upsert_load_delete(store):
    a = AlertRecord(rule="r.yml:g:Down", fingerprint="f1", labels={"alertname": "Down", "target": "demo"},
                    annotations={"summary": "down"}, state="pending", active_at=T0, value=0.0, updated_at=T0)
    b = AlertRecord(rule="r.yml:g:Down", fingerprint="f2", labels={"alertname": "Down"}, annotations={},
                    state="firing", active_at=T0, fired_at=T0 + 60, keep_firing_since=T0 + 90, value=None, updated_at=T0 + 60)
    await store.save_alerts([a, b])
    assert await store.load_alerts() == [a, b]
    a2 = AlertRecord(**{**{f: getattr(a, f) for f in a.__slots__}, "state": "firing", "fired_at": T0 + 60, "value": 2.5})
    await store.save_alerts([a2])
    assert await store.load_alerts() == [a2, b]
    await store.delete_alerts([("r.yml:g:Down", "f1"), ("nope", "f2")])
    assert await store.load_alerts() == [b]
    await store.save_alerts([])
    await store.delete_alerts([])


async def test_alert_values_nan_and_inf_round_trip(store):
    recs = [
        AlertRecord(rule="r", fingerprint=str(i), labels={}, annotations={}, state="firing", active_at=T0, value=v)
        for i, v in enumerate([float("nan"), float("inf"), float("-inf"), 1e-300, -0.0, 0.1 + 0.2])
    ]
    await store.save_alerts(recs)
    got = {r.fingerprint: r.value for r in await store.load_alerts()}
    assert math.isnan(got["0"])
    assert got["1"] == math.inf and got["2"] == -math.inf
    assert got["3"] == 1e-300 and math.copysign(1, got["4"]) == -1 and got["5"] == 0.1 + 0.2


async def test_runs_add_update_get_and_list_newest_first(store):
    r1 = make_run(created_at=T0)
    r2 = make_run(created_at=T0 + 10, spec="other")
    r3 = make_run(created_at=T0 + 20)
    for r in (r1, r2, r3):
        rid = await store.add_run(r)
        assert r.id == rid
    assert [r.id for r in await store.runs()] == [r3.id, r2.id, r1.id]
    assert [r.id for r in await store.runs(spec="restart-demo")] == [r3.id, r1.id]
    assert [r.id for r in await store.runs(since=T0 + 10)] == [r3.id, r2.id]
    assert [r.id for r in await store.runs(limit=1)] == [r3.id]

    r1.status, r1.started_at, r1.ended_at, r1.exit_code = "verified", T0 + 1, T0 + 5, 0
    r1.output_tail, r1.verify, r1.note, r1.approved_by = "ok\nrestarted", {"expr": "up == 1", "result": "verified", "at": T0 + 9}, "fine", "alice"
    await store.update_run(r1)
    assert await store.get_run(r1.id) == r1
    assert await store.get_run(9999) is None
    with pytest.raises(StoreError, match="no remediation run with id 9999"):
        await store.update_run(make_run(id=9999))


async def test_notification_log_keeps_latest_per_group_and_receiver(store):
    first = NotificationRecord("g1", "oncall", "firing", T0, "dk", ("f1", "f2"), ())
    await store.log_notification(first)
    await store.log_notification(NotificationRecord("g1", "slack", "firing", T0 + 1))
    assert await store.last_notification("g1", "oncall") == first
    later = NotificationRecord("g1", "oncall", "resolved", T0 + 5, "dk", (), ("f1", "f2"))
    await store.log_notification(later)
    assert await store.last_notification("g1", "oncall") == later
    assert (await store.last_notification("g1", "slack")).sent_at == T0 + 1
    assert await store.last_notification("g2", "oncall") is None


async def test_outbox_put_due_update_delete(store):
    a = OutboxItem("oncall", "g1", {"alerts": [{"x": 1}], "v": float("nan")}, created_at=T0, next_attempt_at=T0 + 30)
    b = OutboxItem("oncall", "g2", {"alerts": []}, created_at=T0 + 1, next_attempt_at=T0)
    assert await store.outbox_put(a) == a.id
    await store.outbox_put(b)
    assert [i.id for i in await store.outbox_due(T0)] == [b.id]
    assert [i.id for i in await store.outbox_due(T0 + 30)] == [a.id, b.id]  # oldest first
    assert [i.id for i in await store.outbox_due(T0 + 30, limit=1)] == [a.id]
    a.attempts, a.last_error, a.next_attempt_at = 2, "HTTP 503", T0 + 90
    await store.outbox_update(a)
    all_items = await store.outbox_all()
    assert [i.id for i in all_items] == [a.id, b.id]
    assert all_items[0].attempts == 2 and all_items[0].last_error == "HTTP 503" and all_items[0].next_attempt_at == T0 + 90
    assert math.isnan(all_items[0].payload["v"]) and all_items[0].payload["alerts"] == [{"x": 1}]
    await store.outbox_delete(b.id)
    await store.outbox_update(b)  # already delivered and deleted: stays deleted
    assert [i.id for i in await store.outbox_all()] == [a.id]


async def test_kv_set_get_overwrite_delete(store):
    assert await store.kv_get("kill_switch") is None
    await store.kv_set("kill_switch", "on")
    await store.kv_set("kill_switch", "off")
    assert await store.kv_get("kill_switch") == "off"
    await store.kv_set("kill_switch", None)
    assert await store.kv_get("kill_switch") is None
    await store.kv_set("never-set", None)


async def test_everything_survives_close_and_reopen(db_path, fake_clock):
    run = make_run(status="verified", ended_at=T0 + 5)
    async with SqliteStore(db_path, clock=fake_clock) as s:
        eid = await s.append_event(Event(T0, "alert.firing", {"a": 1}))
        await s.save_alerts([AlertRecord("r", "f", {"a": "b"}, {}, "firing", T0, fired_at=T0, value=1.0)])
        await s.add_run(run)
        await s.log_notification(NotificationRecord("g", "oncall", "firing", T0))
        await s.outbox_put(OutboxItem("oncall", "g", {"p": 1}, T0, T0))
        await s.kv_set("k", "v")
    async with SqliteStore(db_path, clock=fake_clock) as s:
        assert s.schema_version == SCHEMA_VERSION
        assert await s.events() == [Event(T0, "alert.firing", {"a": 1}, id=eid)]
        assert [a.fingerprint for a in await s.load_alerts()] == ["f"]
        assert await s.get_run(run.id) == run
        assert (await s.last_notification("g", "oncall")).status == "firing"
        assert [i.payload for i in await s.outbox_all()] == [{"p": 1}]
        assert await s.kv_get("k") == "v"
        assert s.interrupted_run_ids == []


async def test_open_marks_unfinished_runs_interrupted_with_an_event(db_path, fake_clock):
    async with SqliteStore(db_path, clock=fake_clock) as s:
        running = make_run(status="running", started_at=T0 + 1)
        pending = make_run(status="pending", note="queued")
        done = make_run(status="failed", ended_at=T0 + 3, exit_code=1)
        waiting = make_run(status="awaiting_approval")
        for r in (running, pending, done, waiting):
            await s.add_run(r)
    fake_clock.advance(600)
    async with SqliteStore(db_path, clock=fake_clock) as s:
        assert sorted(s.interrupted_run_ids) == sorted([running.id, pending.id])
        r = await s.get_run(running.id)
        assert (r.status, r.ended_at, r.note) == ("interrupted", fake_clock.now(), INTERRUPTED_NOTE)
        p = await s.get_run(pending.id)
        assert p.status == "interrupted" and p.note == f"queued; {INTERRUPTED_NOTE}"
        assert (await s.get_run(done.id)).status == "failed"
        assert (await s.get_run(waiting.id)).status == "awaiting_approval"
        events = await s.events(kinds=["remediation.interrupted"])
        assert sorted(e.data["run_id"] for e in events) == sorted([running.id, pending.id])
        ev = next(e for e in events if e.data["run_id"] == running.id)
        assert ev.time == fake_clock.now()
        assert ev.data["spec"] == "restart-demo" and ev.data["previous_status"] == "running"
        assert ev.data["labels"] == {"target": "demo"}
    async with SqliteStore(db_path, clock=fake_clock) as s:  # nothing left to mark the second time
        assert s.interrupted_run_ids == []
        assert len(await s.events(kinds=["remediation.interrupted"])) == 2


async def test_prune_removes_old_rows_and_keeps_outbox_and_unfinished_runs(db_path, fake_clock):
    async with SqliteStore(db_path, clock=fake_clock, prune_batch=3) as s:  # small batch: exercises the loop
        for i in range(10):
            await s.append_event(Event(T0 + i, "e", {"i": i}))
        old_done = make_run(status="verified", created_at=T0, ended_at=T0 + 1)
        old_done_no_end = make_run(status="skipped", created_at=T0)
        new_done = make_run(status="failed", created_at=T0, ended_at=T0 + 20)
        old_waiting = make_run(status="awaiting_approval", created_at=T0)
        old_unknown = make_run(status="some_future_status", created_at=T0, ended_at=T0)
        for r in (old_done, old_done_no_end, new_done, old_waiting, old_unknown):
            await s.add_run(r)
        await s.log_notification(NotificationRecord("g-old", "oncall", "firing", T0))
        await s.log_notification(NotificationRecord("g-new", "oncall", "firing", T0 + 20))
        await s.outbox_put(OutboxItem("oncall", "g-old", {}, created_at=T0, next_attempt_at=T0))
        await s.save_alerts([AlertRecord("r", "f", {}, {}, "firing", active_at=T0)])
        await s.kv_set("k", "v")

        removed = await s.prune(T0 + 7)
        assert removed == 7 + 2 + 1
        assert [e.data["i"] for e in await s.events()] == [7, 8, 9]
        assert {r.id for r in await s.runs()} == {new_done.id, old_waiting.id, old_unknown.id}
        assert await s.last_notification("g-old", "oncall") is None
        assert await s.last_notification("g-new", "oncall") is not None
        assert len(await s.outbox_all()) == 1 and len(await s.load_alerts()) == 1 and await s.kv_get("k") == "v"
        assert await s.prune(T0 + 7) == 0


async def test_concurrent_appends_from_many_tasks_all_land_with_distinct_ids(store):
    async def writer(w: int) -> list[int]:
        return [await store.append_event(Event(T0 + i, "load", {"w": w, "i": i})) for i in range(25)]

    results = await asyncio.gather(*(writer(w) for w in range(40)))
    ids = [i for r in results for i in r]
    assert len(ids) == len(set(ids)) == 1000
    events = await store.events(limit=5000)
    assert len(events) == 1000
    assert sorted((e.data["w"], e.data["i"]) for e in events) == sorted((w, i) for w in range(40) for i in range(25))


async def test_concurrent_mixed_calls_while_closing_none_are_lost(db_path, fake_clock):
    s = SqliteStore(db_path, clock=fake_clock)
    await s.open()
    tasks = [asyncio.create_task(s.append_event(Event(T0, "x", {"i": i}))) for i in range(50)]
    await asyncio.sleep(0)  # let every task submit its call before close queues behind them
    await s.close()
    assert len(set(await asyncio.gather(*tasks))) == 50
    async with SqliteStore(db_path, clock=fake_clock) as s2:
        assert len(await s2.events()) == 50


async def test_calls_on_a_closed_store_raise_store_error(db_path, fake_clock):
    s = SqliteStore(db_path, clock=fake_clock)
    with pytest.raises(StoreError, match="not open"):
        await s.kv_get("k")
    await s.open()
    await s.open()  # idempotent
    await s.close()
    await s.close()
    with pytest.raises(StoreError, match="not open"):
        await s.append_event(Event(T0, "x"))


async def test_memory_store_works_without_a_file(tmp_path, fake_clock):
    async with SqliteStore(":memory:", clock=fake_clock) as s:
        await s.kv_set("a", "b")
        assert await s.kv_get("a") == "b"
        assert s.schema_version == SCHEMA_VERSION
    assert list(tmp_path.iterdir()) == []
