"""SqliteStore with bad files, future schemas, failed migrations and hostile strings."""

from __future__ import annotations

import sqlite3

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from watchdog.model import Event
from watchdog.state.base import AlertRecord, NotificationRecord, RemediationRun, SchemaVersionError, StoreError
from watchdog.state.migrations import Migration
from watchdog.state.migrations.sqlite import MIGRATIONS, SCHEMA_VERSION
from watchdog.state import sqlite_schema  # the migrations the store applies are read there
from watchdog.state.sqlite import SqliteStore

T0 = 1_700_000_000.0

HOSTILE = [
    "", "'", '"', "'; DROP TABLE events; --", "a\nb\r\nc", "tab\there", "nul\x00byte", "\\", "%s %d ?", "?1 :name $x",
    "emoji 🔥🚒", "rtl \u202e txet", "zero\u200bwidth", "ünïcödé", "𝔘𝔫𝔦", "{{ $labels.x }}", "$(rm -rf /)",
    "\udcff lone surrogate", "x" * 10_000,
]


def _version_rows(path: str) -> list[tuple[int, str]]:
    conn = sqlite3.connect(path)
    try:
        return conn.execute("SELECT version, description FROM schema_version ORDER BY version").fetchall()
    finally:
        conn.close()


async def test_migrates_an_empty_file_and_reopens_idempotently(tmp_path, fake_clock):
    path = tmp_path / "empty.db"
    path.touch()
    async with SqliteStore(str(path), clock=fake_clock) as s:
        assert s.schema_version == SCHEMA_VERSION
    async with SqliteStore(str(path), clock=fake_clock) as s:
        assert s.schema_version == SCHEMA_VERSION
    assert [v for v, _ in _version_rows(str(path))] == [m.version for m in MIGRATIONS]


async def test_refuses_a_database_from_a_newer_watchdog(tmp_path, fake_clock):
    path = str(tmp_path / "w.db")
    async with SqliteStore(path, clock=fake_clock):
        pass
    conn = sqlite3.connect(path)
    conn.execute("INSERT INTO schema_version (version, applied_at, description) VALUES (7, 0, 'future')")
    conn.commit()
    conn.close()
    s = SqliteStore(path, clock=fake_clock)
    with pytest.raises(SchemaVersionError) as err:
        await s.open()
    assert str(err.value) == (
        f"{path}: database schema version 7 is newer than this watchdog ({SCHEMA_VERSION}); refusing to start")
    with pytest.raises(StoreError, match="not open"):  # a refused open leaves nothing half-open
        await s.kv_get("k")


async def test_a_failing_migration_rolls_back_entirely(tmp_path, fake_clock, monkeypatch):
    path = str(tmp_path / "w.db")
    async with SqliteStore(path, clock=fake_clock):
        pass
    nxt = SCHEMA_VERSION + 1
    broken = Migration(nxt, "add a table then fail", ("CREATE TABLE half_done (x TEXT)", "THIS IS NOT SQL"))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*MIGRATIONS, broken))
    with pytest.raises(StoreError, match="migrate failed"):
        await SqliteStore(path, clock=fake_clock).open()
    conn = sqlite3.connect(path)
    try:
        tables = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    finally:
        conn.close()
    assert "half_done" not in tables
    assert [v for v, _ in _version_rows(path)] == [m.version for m in MIGRATIONS]


async def test_a_later_migration_applies_on_reopen(tmp_path, fake_clock, monkeypatch):
    path = str(tmp_path / "w.db")
    async with SqliteStore(path, clock=fake_clock) as s:
        await s.kv_set("kept", "yes")
    nxt = SCHEMA_VERSION + 1
    extra = Migration(nxt, "add an index", ("CREATE INDEX kv_updated ON kv (updated_at)",))
    monkeypatch.setattr(sqlite_schema, "MIGRATIONS", (*MIGRATIONS, extra))
    async with SqliteStore(path, clock=fake_clock) as s:
        assert s.schema_version == nxt
        assert await s.kv_get("kept") == "yes"
    assert _version_rows(path) == [(m.version, m.description) for m in MIGRATIONS] + [(nxt, "add an index")]


@pytest.mark.parametrize("content", [b"this is not a database\n" * 50, b"\x00\x01\x02" * 400, b"SQLite format 3\x00" + b"\xff" * 4000])
async def test_a_corrupt_or_foreign_file_is_a_clear_error_naming_the_path(tmp_path, fake_clock, content):
    path = tmp_path / "bad.db"
    path.write_bytes(content)
    s = SqliteStore(str(path), clock=fake_clock)
    with pytest.raises(StoreError) as err:
        await s.open()
    assert str(path) in str(err.value)
    assert path.read_bytes() == content  # never overwritten


async def test_an_unwritable_location_is_a_clear_error(tmp_path, fake_clock):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(StoreError, match=r"w\.db: cannot (create|read) database file"):
        await SqliteStore(str(blocker / "sub" / "w.db"), clock=fake_clock).open()


@pytest.mark.parametrize("value", HOSTILE, ids=range(len(HOSTILE)))
async def test_hostile_strings_round_trip_in_json_columns(tmp_path, fake_clock, value):
    async with SqliteStore(str(tmp_path / "w.db"), clock=fake_clock) as s:
        labels = {"alertname": "A", "v": value, value or "empty": "key"}
        await s.save_alerts([AlertRecord("rule", "fp", labels, {"summary": value}, "firing", T0)])
        await s.append_event(Event(T0, "alert.firing", {"labels": labels}))
        run = RemediationRun("spec", "fp", labels, "running", T0, action={"argv": ["x", value]})
        await s.add_run(run)
        (alert,) = await s.load_alerts()
        assert alert.labels == labels and alert.annotations == {"summary": value}
        assert (await s.events())[0].data == {"labels": labels}
        got = await s.get_run(run.id)
        assert got.labels == labels and got.action == {"argv": ["x", value]}
        # the schema is intact whatever the strings were
        assert len(await s.events()) == 1 and s.schema_version == SCHEMA_VERSION


@pytest.mark.parametrize("value", [v for v in HOSTILE if "\udcff" not in v], ids=lambda v: repr(v)[:20])
async def test_hostile_strings_round_trip_in_plain_columns(tmp_path, fake_clock, value):
    async with SqliteStore(str(tmp_path / "w.db"), clock=fake_clock) as s:
        await s.kv_set(value, value)
        assert await s.kv_get(value) == value
        await s.log_notification(NotificationRecord(value, value, "firing", T0, value, (value,), ()))
        rec = await s.last_notification(value, value)
        assert rec.group_key == value and rec.dedup_key == value and rec.firing_fingerprints == (value,)
        run = RemediationRun(value, value, {}, "failed", T0, output_tail=value, note=value)
        await s.add_run(run)
        assert await s.get_run(run.id) == run


async def test_lone_surrogates_in_plain_columns_are_stored_not_fatal(tmp_path, fake_clock):
    async with SqliteStore(str(tmp_path / "w.db"), clock=fake_clock) as s:
        run = RemediationRun("spec", "fp", {}, "failed", T0, output_tail="bad \udcff byte")
        await s.add_run(run)
        assert (await s.get_run(run.id)).output_tail == "bad \\udcff byte"


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(labels=st.dictionaries(st.text(min_size=1, max_size=20), st.text(max_size=40), max_size=5))
async def test_any_label_mapping_round_trips(tmp_path, fake_clock, labels):
    path = str(tmp_path / "h.db")
    async with SqliteStore(path, clock=fake_clock) as s:
        eid = await s.append_event(Event(T0, "x", {"labels": labels}))
        got = [e for e in await s.events(limit=10_000) if e.id == eid]
        assert got[0].data == {"labels": labels}
