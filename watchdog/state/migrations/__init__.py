"""Schema migrations: an ordered list per backend, applied at `open()`.

Each backend keeps its own DDL (types and auto-increment differ) but the
versions mean the same schema everywhere: version N of the SQLite schema and
version N of a later PostgreSQL schema hold the same tables and columns.

Policy (docs/state.md): migrations are append-only. A released migration is
never edited; a change is a new migration with the next number. Opening a
database whose version is newer than the code knows is refused, because an
older binary cannot know what a newer schema means.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Sequence

from watchdog.state.base import SchemaVersionError


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    description: str
    statements: tuple[str, ...]


def validate_migrations(migrations: Sequence[Migration]) -> None:
    """Versions must be 1, 2, 3, ... in order: a gap or a duplicate is a programming error."""
    for expected, migration in enumerate(migrations, start=1):
        if migration.version != expected:
            raise ValueError(f"migration list out of order: expected version {expected}, found {migration.version}")


def pending_migrations(current: int, migrations: Sequence[Migration], *, path: str) -> list[Migration]:
    """The migrations to apply to a database at version `current` (0 = empty).

    Raises SchemaVersionError when the database is newer than the code.
    """
    latest = migrations[-1].version if migrations else 0
    if current > latest:
        raise SchemaVersionError(
            f"{path}: database schema version {current} is newer than this watchdog ({latest}); refusing to start"
        )
    return [m for m in migrations if m.version > current]
