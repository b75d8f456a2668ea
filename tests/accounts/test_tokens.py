"""API tokens: issued once, stored hashed, verified, revoked."""

from __future__ import annotations

import hashlib
import sqlite3
from pathlib import Path

import pytest

from accounts import AccountError, Accounts, Role, User
from tests.accounts.conftest import PASSWORD


@pytest.fixture
def ann(accounts: Accounts) -> str:
    accounts.add("ann", Role.OPERATOR, PASSWORD)
    return "ann"


def test_issue_and_verify(accounts: Accounts, ann: str) -> None:
    token = accounts.issue_token(ann, "ci")
    assert token.startswith("chub_") and len(token) >= 5 + 43
    assert accounts.issue_token(ann) != token
    assert accounts.verify_token(token) == User("ann", Role.OPERATOR, "token")
    assert accounts.verify_token(token[:-1]) is None
    assert accounts.verify_token(token + "x") is None
    assert accounts.verify_token("chub_") is None
    assert accounts.verify_token("") is None
    assert accounts.verify_token(token.removeprefix("chub_")) is None
    first, second = accounts.tokens(ann)
    assert (first.user, first.label, first.revoked) == ("ann", "ci", False)
    assert first.last_used_at is not None and second.last_used_at is None
    record = accounts.get(ann)
    assert record is not None and record.tokens == 2


def test_only_the_hash_is_stored(accounts: Accounts, ann: str, db: Path) -> None:
    token = accounts.issue_token(ann, "grafana")
    raw = db.read_bytes() + Path(f"{db}-wal").read_bytes()
    assert token.encode() not in raw
    with sqlite3.connect(db) as c:
        rows = c.execute("SELECT token_hash FROM tokens").fetchall()
    assert rows == [(hashlib.sha256(token.encode()).hexdigest(),)]
    assert token not in rows[0][0]


def test_revoke(accounts: Accounts, ann: str) -> None:
    keep, drop = accounts.issue_token(ann, "keep"), accounts.issue_token(ann, "drop")
    record = accounts.find_token(drop)
    assert record is not None and record.label == "drop"
    accounts.revoke_token(record.id)
    assert accounts.verify_token(drop) is None
    assert accounts.verify_token(keep) is not None
    accounts.revoke_token(record.id)  # twice: no error
    assert [(t.label, t.revoked) for t in accounts.tokens(ann)] == [
        ("keep", False), ("drop", True)]
    with pytest.raises(AccountError, match="no token with id 999"):
        accounts.revoke_token(999)


def test_tokens_follow_their_user(accounts: Accounts, ann: str) -> None:
    """A token carries its user's current role; it stops working while they are disabled
    and for good once they are removed."""
    token = accounts.issue_token(ann)
    accounts.set_role(ann, Role.VIEWER)
    assert accounts.verify_token(token) == User("ann", Role.VIEWER, "token")
    accounts.set_disabled(ann, True)
    assert accounts.verify_token(token) is None
    with pytest.raises(AccountError, match="disabled"):
        accounts.issue_token(ann)
    accounts.set_disabled(ann, False)
    assert accounts.verify_token(token) is not None
    assert accounts.remove(ann) == 1
    assert accounts.verify_token(token) is None
    assert [t.revoked for t in accounts.tokens(ann)] == [True]
    accounts.add(ann, Role.ADMIN, PASSWORD)  # the same name again: the old token stays dead
    assert accounts.verify_token(token) is None


def test_unknown_users_and_bad_labels(accounts: Accounts, ann: str) -> None:
    with pytest.raises(AccountError, match="no user named 'bob'"):
        accounts.issue_token("bob")
    with pytest.raises(AccountError, match="label"):
        accounts.issue_token(ann, "x" * 101)
    with pytest.raises(AccountError, match="label"):
        accounts.issue_token(ann, "two\nlines")
    assert accounts.tokens(ann) == []


def test_last_use_is_recorded_to_the_minute(accounts: Accounts, ann: str, db: Path) -> None:
    token = accounts.issue_token(ann)
    assert accounts.verify_token(token) is not None
    (first,) = accounts.tokens(ann)
    assert first.last_used_at is not None
    with sqlite3.connect(db) as c:
        c.execute("UPDATE tokens SET last_used_at = '2020-01-01T00:00:00+00:00'")
    assert accounts.verify_token(token) is not None
    (second,) = accounts.tokens(ann)
    assert second.last_used_at is not None and second.last_used_at >= first.last_used_at
    record = accounts.find_token(token)
    assert record == second  # finding a token is not a use of it
