"""The accounts file's tables, created when absent, and its version (``user_version``).

Two tables: ``users`` and ``tokens``. A token row outlives its user (revoked), so
``tokens`` keeps the record of what was issued to whom; nothing is ever read through a
token whose user is gone or disabled (the lookup joins ``users``).

The version lets a later schema migrate a file in place, and lets an older hub refuse a
file a newer one wrote instead of misreading it. Versions:

1. ``users`` and ``tokens``.
2. ``users.department``: the department (of the city pack) a user acts for, or NULL.
3. ``users.city``: the one city (a pack's ``city.id``) a user sees, or NULL for every city
   the hub serves.

A file of an older version is migrated in place when opened, in the same transaction
that reads its version.
"""

from __future__ import annotations

import sqlite3

from accounts.rules import AccountError
from cityhub.sqlitedb import migrate

__all__ = ["SCHEMA_VERSION", "create_or_check"]

SCHEMA_VERSION = 3

_V1 = (
    "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL "
    "CHECK (role IN ('viewer', 'operator', 'admin')), password_hash TEXT NOT NULL, "
    "created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, "
    "label TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, "
    "last_used_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX tokens_by_user ON tokens (user)",
)
# what takes a file of version n - 1 to version n
_MIGRATIONS: dict[int, tuple[str, ...]] = {
    2: ("ALTER TABLE users ADD COLUMN department TEXT",),
    3: ("ALTER TABLE users ADD COLUMN city TEXT",),
}


def create_or_check(db: sqlite3.Connection, path: str) -> None:
    """Create the tables in a new file, migrate a file of an older schema, refuse a file
    of a newer one, or another program's. One transaction (BEGIN IMMEDIATE), so processes
    opening a file together create or migrate it once."""

    def refuse(db: sqlite3.Connection, version: int) -> AccountError | None:
        if version > SCHEMA_VERSION:
            return AccountError(f"{path}: accounts schema version {version}, newer than "
                                f"this hub's ({SCHEMA_VERSION}): upgrade cityhub")
        if version == 0:
            tables = db.execute("SELECT name FROM sqlite_master WHERE type = 'table'"
                                ).fetchall()
            if tables:  # a hub file of another kind, or another program's
                return AccountError(f"{path} is not an accounts file (it has tables "
                                    f"{', '.join(sorted(t[0] for t in tables))})")
        return None

    migrate(db, SCHEMA_VERSION, {1: _V1, **_MIGRATIONS}, refuse=refuse)
