"""A user's department: stored, changed, handed on by every way of authenticating, and
a version-1 accounts file (before departments) migrated in place."""

from __future__ import annotations

import base64
import sqlite3
from pathlib import Path

import pytest
from argon2 import PasswordHasher

from accounts import AccountError, Accounts, Role, User
from accounts.schema import SCHEMA_VERSION
from tests.accounts.conftest import PASSWORD

# The accounts file as schema version 1 created it, kept here as it was (not imported), so
# the migration is tested against the real old shape.
V1_DDL = (
    "CREATE TABLE users (name TEXT PRIMARY KEY, role TEXT NOT NULL "
    "CHECK (role IN ('viewer', 'operator', 'admin')), password_hash TEXT NOT NULL, "
    "created_at TEXT NOT NULL, disabled INTEGER NOT NULL DEFAULT 0)",
    "CREATE TABLE tokens (id INTEGER PRIMARY KEY AUTOINCREMENT, user TEXT NOT NULL, "
    "label TEXT NOT NULL, token_hash TEXT NOT NULL UNIQUE, created_at TEXT NOT NULL, "
    "last_used_at TEXT, revoked INTEGER NOT NULL DEFAULT 0)",
    "CREATE INDEX tokens_by_user ON tokens (user)",
)


def basic(name: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{name}:{password}".encode()).decode()


def test_a_user_acts_for_a_department(accounts: Accounts) -> None:
    accounts.add("ann", Role.OPERATOR, PASSWORD, department="bpbd")
    accounts.add("bob", "viewer", PASSWORD)
    assert accounts.get("ann").department == "bpbd"  # type: ignore[union-attr]
    assert accounts.get("bob").department is None  # type: ignore[union-attr]
    assert [(a.name, a.department) for a in accounts.list()] == [("ann", "bpbd"),
                                                                 ("bob", None)]
    token = accounts.issue_token("ann")
    as_ann = User("ann", Role.OPERATOR, "password", "bpbd")
    assert accounts.verify_password("ann", PASSWORD) == as_ann
    assert accounts.authenticate(basic("ann", PASSWORD)) == as_ann
    assert accounts.verify_token(token) == User("ann", Role.OPERATOR, "token", "bpbd")
    assert accounts.authenticate(f"Bearer {token}") == User("ann", Role.OPERATOR, "token",
                                                            "bpbd")
    assert accounts.verify_password("bob", PASSWORD) == User("bob", Role.VIEWER, "password")

    accounts.set_department("ann", "dishub")  # the next request sees it, tokens included
    assert accounts.verify_token(token) == User("ann", Role.OPERATOR, "token", "dishub")
    accounts.set_department("ann", None)
    assert accounts.verify_password("ann", PASSWORD) == User("ann", Role.OPERATOR,
                                                             "password", None)
    accounts.set_department("bob", "bpbd")
    assert accounts.get("bob").department == "bpbd"  # type: ignore[union-attr]


@pytest.mark.parametrize("bad", ["", "BPBD", "-x", "b pbd", "a" * 64, "bpbd\n", "dinas.pu"])
def test_a_department_id_is_a_slug(accounts: Accounts, bad: str) -> None:
    with pytest.raises(AccountError, match="invalid department id"):
        accounts.add("ann", Role.OPERATOR, PASSWORD, department=bad)
    assert accounts.get("ann") is None
    accounts.add("ann", Role.OPERATOR, PASSWORD)
    with pytest.raises(AccountError, match="invalid department id"):
        accounts.set_department("ann", bad)
    assert accounts.get("ann").department is None  # type: ignore[union-attr]
    with pytest.raises(AccountError, match="no user named 'nobody'"):
        accounts.set_department("nobody", "bpbd")


def test_a_version_1_file_is_migrated_in_place(tmp_path: Path, cheap: PasswordHasher
                                               ) -> None:
    db = tmp_path / "accounts.db"
    hasher = cheap
    with sqlite3.connect(db) as c:
        for sql in V1_DDL:
            c.execute(sql)
        c.execute("INSERT INTO users (name, role, password_hash, created_at, disabled) "
                  "VALUES ('ann', 'operator', ?, '2026-01-02T03:04:05+00:00', 0)",
                  (hasher.hash(PASSWORD),))
        c.execute("INSERT INTO users (name, role, password_hash, created_at, disabled) "
                  "VALUES ('old', 'viewer', ?, '2026-01-02T03:04:05+00:00', 1)",
                  (hasher.hash(PASSWORD),))
        c.execute("INSERT INTO tokens (user, label, token_hash, created_at) VALUES "
                  "('ann', 'ci', 'ab' || hex(randomblob(31)), '2026-01-02T03:04:05+00:00')")
        c.execute("PRAGMA user_version = 1")
    c.close()

    with Accounts(db, hasher=hasher) as accounts:  # migrated on opening
        ann = accounts.get("ann")
        assert ann is not None and ann.role is Role.OPERATOR and ann.department is None
        assert ann.tokens == 1 and ann.created_at.isoformat() == "2026-01-02T03:04:05+00:00"
        assert accounts.get("old").disabled  # type: ignore[union-attr]
        assert accounts.verify_password("ann", PASSWORD) == User("ann", Role.OPERATOR,
                                                                 "password")
        accounts.set_department("ann", "bpbd")
        assert [t.label for t in accounts.tokens("ann")] == ["ci"]
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION == 3
        columns = [r[1] for r in c.execute("PRAGMA table_info(users)")]
        assert columns[-2:] == ["department", "city"]
    c.close()
    with Accounts(db, hasher=hasher) as accounts:  # version 3 opens as it is
        assert accounts.get("ann").department == "bpbd"  # type: ignore[union-attr]
        assert accounts.get("ann").city is None  # type: ignore[union-attr]


def test_a_failed_migration_leaves_the_file_as_it_was(tmp_path: Path) -> None:
    """The ALTER TABLE runs in the transaction that read the version: if it fails, the
    file keeps version 1 (and is not half migrated)."""
    db = tmp_path / "accounts.db"
    with sqlite3.connect(db) as c:
        for sql in V1_DDL:
            c.execute(sql)
        # a column of that name already there: the ALTER TABLE fails
        c.execute("ALTER TABLE users ADD COLUMN department TEXT")
        c.execute("PRAGMA user_version = 1")
    c.close()
    with pytest.raises(sqlite3.OperationalError, match="duplicate column"):
        Accounts(db)
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == 1
    c.close()
