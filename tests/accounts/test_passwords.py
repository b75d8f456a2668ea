"""Users and their passwords: add, verify, change, disable, remove; what is refused."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Literal

import pytest
from argon2 import PasswordHasher, profiles

from accounts import AccountError, Accounts, Role, User
from accounts.schema import SCHEMA_VERSION
from tests.accounts.conftest import PASSWORD


def test_add_then_verify(accounts: Accounts) -> None:
    accounts.add("ann", Role.OPERATOR, PASSWORD)
    assert accounts.verify_password("ann", PASSWORD) == User("ann", Role.OPERATOR, "password")
    assert accounts.verify_password("ann", PASSWORD + "x") is None
    assert accounts.verify_password("ann", "") is None
    assert accounts.verify_password("bob", PASSWORD) is None
    assert accounts.verify_password("Ann", PASSWORD) is None  # names are not folded
    record = accounts.get("ann")
    assert record is not None
    assert (record.name, record.role, record.disabled, record.tokens) == (
        "ann", Role.OPERATOR, False, 0)
    assert record.created_at.tzinfo is not None
    assert accounts.get("bob") is None


def test_the_password_is_stored_hashed(accounts: Accounts, db: Path) -> None:
    accounts.add("ann", "viewer", PASSWORD)
    with sqlite3.connect(db) as c:
        (stored,) = c.execute("SELECT password_hash FROM users WHERE name = 'ann'").fetchone()
    assert stored.startswith("$argon2id$") and PASSWORD not in stored


def test_disabled_users_are_refused_until_enabled(accounts: Accounts) -> None:
    accounts.add("ann", Role.ADMIN, PASSWORD)
    accounts.set_disabled("ann", True)
    assert accounts.verify_password("ann", PASSWORD) is None
    record = accounts.get("ann")
    assert record is not None and record.disabled
    accounts.set_disabled("ann", False)
    assert accounts.verify_password("ann", PASSWORD) == User("ann", Role.ADMIN, "password")


def test_unknown_users_cost_a_verification(db: Path) -> None:
    """A name that does not exist is answered after as much argon2 work as a wrong
    password, so timing does not tell which names exist."""
    class Counting(PasswordHasher):
        calls = 0

        def verify(self, hash: str | bytes, password: str | bytes) -> Literal[True]:
            Counting.calls += 1
            return super().verify(hash, password)

    hasher = Counting.from_parameters(profiles.CHEAPEST)
    with Accounts(db, hasher=hasher) as accounts:
        accounts.add("ann", Role.VIEWER, PASSWORD)
        accounts.add("dis", Role.VIEWER, PASSWORD)
        accounts.set_disabled("dis", True)
        for name, password in (("nobody", PASSWORD), ("ann", "wrong password"),
                               ("dis", PASSWORD)):
            before = Counting.calls
            assert accounts.verify_password(name, password) is None
            assert Counting.calls == before + 1, name


@pytest.mark.parametrize("name", ["", "Ann", "ann smith", "ann:x", "-ann", ".ann", "a" * 65,
                                  "анна", "ann\n"])
def test_invalid_names_are_refused(accounts: Accounts, name: str) -> None:
    with pytest.raises(ValueError, match="invalid user name"):
        accounts.add(name, Role.VIEWER, PASSWORD)
    assert accounts.list() == []


def test_valid_names(accounts: Accounts) -> None:
    for name in ("a", "ann.smith", "ops_2", "x-y", "0" * 64):
        accounts.add(name, Role.VIEWER, PASSWORD)
    assert [a.name for a in accounts.list()] == sorted(
        ["a", "ann.smith", "ops_2", "x-y", "0" * 64])


def test_passwords_roles_and_duplicates_are_checked(accounts: Accounts) -> None:
    with pytest.raises(ValueError, match="at least 8 characters"):
        accounts.add("ann", Role.VIEWER, "1234567")
    with pytest.raises(ValueError, match="too long"):
        accounts.add("ann", Role.VIEWER, "x" * 1025)
    with pytest.raises(ValueError, match="unknown role 'root'"):
        accounts.add("ann", "root", PASSWORD)
    accounts.add("ann", Role.VIEWER, "12345678")
    with pytest.raises(AccountError, match="exists already"):
        accounts.add("ann", Role.ADMIN, PASSWORD)
    assert accounts.verify_password("ann", "12345678") == User("ann", Role.VIEWER, "password")


def test_set_password_and_role(accounts: Accounts) -> None:
    accounts.add("ann", Role.VIEWER, PASSWORD)
    accounts.set_password("ann", "a new password")
    assert accounts.verify_password("ann", PASSWORD) is None
    assert accounts.verify_password("ann", "a new password") is not None
    with pytest.raises(ValueError, match="at least 8"):
        accounts.set_password("ann", "short")
    accounts.set_role("ann", "admin")
    user = accounts.verify_password("ann", "a new password")
    assert user is not None and user.role is Role.ADMIN
    for change in (lambda: accounts.set_password("bob", PASSWORD),
                   lambda: accounts.set_role("bob", Role.ADMIN),
                   lambda: accounts.set_disabled("bob", True),
                   lambda: accounts.remove("bob")):
        with pytest.raises(AccountError, match="no user named 'bob'"):
            change()
    with pytest.raises(AccountError, match="unknown role"):
        accounts.set_role("ann", "superuser")


def test_remove(accounts: Accounts) -> None:
    accounts.add("ann", Role.VIEWER, PASSWORD)
    accounts.add("bob", Role.VIEWER, PASSWORD)
    assert accounts.remove("ann") == 0
    assert [a.name for a in accounts.list()] == ["bob"]
    assert accounts.verify_password("ann", PASSWORD) is None
    accounts.add("ann", Role.OPERATOR, "another password")  # the name is free again
    assert accounts.verify_password("ann", PASSWORD) is None


def test_weaker_hashes_are_replaced_at_login(db: Path) -> None:
    """A hash made with weaker parameters is replaced with one of the current (default)
    parameters at the next successful login; a wrong password changes nothing."""
    with Accounts(db, hasher=PasswordHasher.from_parameters(profiles.CHEAPEST)) as old:
        old.add("ann", Role.VIEWER, PASSWORD)

    def stored() -> str:
        with sqlite3.connect(db) as c:
            return str(c.execute("SELECT password_hash FROM users").fetchone()[0])

    weak = stored()
    with Accounts(db) as accounts:
        assert accounts.verify_password("ann", "wrong password") is None
        assert stored() == weak
        assert accounts.verify_password("ann", PASSWORD) is not None
        strong = stored()
        assert strong != weak and not PasswordHasher().check_needs_rehash(strong)
        assert accounts.verify_password("ann", PASSWORD) is not None
        assert stored() == strong


def test_schema_version_and_foreign_files(tmp_path: Path, cheap: PasswordHasher) -> None:
    db = tmp_path / "a.db"
    Accounts(db, hasher=cheap).close()
    with sqlite3.connect(db) as c:
        assert c.execute("PRAGMA user_version").fetchone()[0] == SCHEMA_VERSION
        c.execute("PRAGMA user_version = 99")
    with pytest.raises(AccountError, match="newer than this hub's"):
        Accounts(db, hasher=cheap)
    other = tmp_path / "readings.db"
    with sqlite3.connect(other) as c:
        c.execute("CREATE TABLE readings (x)")
    with pytest.raises(AccountError, match="not an accounts file"):
        Accounts(other, hasher=cheap)
