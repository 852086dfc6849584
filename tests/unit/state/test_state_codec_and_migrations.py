"""Pure pieces of the state package: row codecs and the migration list rules."""

from __future__ import annotations

import math

import pytest

from watchdog.model import Labels
from watchdog.state import codec
from watchdog.state.base import AlertRecord, SchemaVersionError
from watchdog.state.migrations import Migration, pending_migrations, validate_migrations
from watchdog.state.migrations.sqlite import MIGRATIONS, SCHEMA_VERSION


def test_float_text_round_trips_special_values_exactly():
    for v in [0.0, -0.0, 1.5, 1e308, 5e-324, math.inf, -math.inf, 0.1 + 0.2]:
        back = codec.text_float(codec.float_text(v))
        assert back == v and math.copysign(1, back) == math.copysign(1, v)
    assert math.isnan(codec.text_float(codec.float_text(math.nan)))
    assert codec.float_text(None) is None and codec.text_float(None) is None


def test_text_keeps_encodable_strings_and_escapes_lone_surrogates():
    assert codec.text("a\x00b\n🔥") == "a\x00b\n🔥"
    assert codec.text("x\udcffy") == "x\\udcffy"
    assert codec.text(None) == ""


def test_json_keeps_surrogates_and_degrades_unknown_objects_to_text():
    assert codec.loads(codec.dumps({"s": "\udcff"})) == {"s": "\udcff"}
    assert codec.loads(codec.dumps({"set": {"b", "a"}, "obj": object, "raw": b"\xffok"})) == {
        "set": ["a", "b"], "obj": str(object), "raw": "\ufffdok"}


def test_labels_tuple_is_accepted_where_a_mapping_is_expected():
    row = codec.alert_row(AlertRecord("r", "f", Labels.of(a="1", b="2"), {}, "firing", 1.0))  # type: ignore[arg-type]
    assert codec.row_alert(row).labels == {"a": "1", "b": "2"}


def test_pending_migrations_from_empty_partial_and_current():
    ms = [Migration(1, "one", ()), Migration(2, "two", ()), Migration(3, "three", ())]
    assert [m.version for m in pending_migrations(0, ms, path="db")] == [1, 2, 3]
    assert [m.version for m in pending_migrations(2, ms, path="db")] == [3]
    assert pending_migrations(3, ms, path="db") == []


def test_newer_database_is_refused_with_both_versions_and_the_path():
    ms = [Migration(v, str(v), ()) for v in range(1, 6)]
    with pytest.raises(SchemaVersionError) as err:
        pending_migrations(7, ms, path="/var/lib/watchdog.db")
    assert str(err.value) == (
        "/var/lib/watchdog.db: database schema version 7 is newer than this watchdog (5); refusing to start")


@pytest.mark.parametrize("versions", [[2], [1, 3], [1, 1], [2, 1]])
def test_migration_lists_must_be_numbered_one_up_without_gaps(versions):
    with pytest.raises(ValueError, match="out of order"):
        validate_migrations([Migration(v, "", ()) for v in versions])


def test_shipped_sqlite_migrations_are_valid_and_start_with_the_initial_schema():
    validate_migrations(MIGRATIONS)
    assert MIGRATIONS[0].version == 1 and SCHEMA_VERSION == MIGRATIONS[-1].version
    ddl = " ".join(MIGRATIONS[0].statements)
    for table in ("events", "alerts", "remediation_runs", "notification_log", "outbox", "kv"):
        assert f"CREATE TABLE {table} (" in ddl


def test_sqlite_store_implements_every_store_method_with_the_protocol_signature():
    import inspect

    from watchdog.state.base import Store
    from watchdog.state.sqlite import SqliteStore

    methods = [n for n, v in vars(Store).items() if inspect.iscoroutinefunction(v)]
    assert "prune" in methods and "append_event" in methods
    for name in methods:
        impl = getattr(SqliteStore, name)
        assert inspect.iscoroutinefunction(impl), name
        want = [(p.name, p.kind, p.default) for p in inspect.signature(getattr(Store, name)).parameters.values()]
        got = [(p.name, p.kind, p.default) for p in inspect.signature(impl).parameters.values()]
        assert got == want, name
