"""Several Accounts on one file (as several processes of the hub have) see each other's
changes at once; one Accounts is safe to share across threads."""

from __future__ import annotations

import threading
from pathlib import Path

from argon2 import PasswordHasher

from accounts import Accounts, Role, User
from tests.accounts.conftest import PASSWORD


def test_two_accounts_on_one_file(db: Path, cheap: PasswordHasher) -> None:
    with Accounts(db, hasher=cheap) as a, Accounts(db, hasher=cheap) as b:
        a.add("ann", Role.VIEWER, PASSWORD)
        assert b.verify_password("ann", PASSWORD) == User("ann", Role.VIEWER, "password")
        token = b.issue_token("ann", "from b")
        assert a.verify_token(token) == User("ann", Role.VIEWER, "token")
        b.set_role("ann", Role.ADMIN)
        assert a.verify_token(token) == User("ann", Role.ADMIN, "token")
        record = a.find_token(token)
        assert record is not None
        a.revoke_token(record.id)
        assert b.verify_token(token) is None
        b.add("bob", Role.OPERATOR, PASSWORD)
        assert [u.name for u in a.list()] == ["ann", "bob"]
        a.remove("bob")
        assert b.get("bob") is None and b.verify_password("bob", PASSWORD) is None


def test_threads_sharing_one_accounts(accounts: Accounts) -> None:
    errors: list[BaseException] = []
    start = threading.Barrier(6)

    def work(i: int) -> None:
        try:
            start.wait()
            for j in range(5):
                name = f"u{i}-{j}"
                accounts.add(name, Role.VIEWER, PASSWORD)
                token = accounts.issue_token(name)
                assert accounts.verify_password(name, PASSWORD) is not None
                assert accounts.verify_token(token) is not None
        except BaseException as e:  # reported below, failing the test
            errors.append(e)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    listed = accounts.list()
    assert len(listed) == 30 and all(a.tokens == 1 for a in listed)
