"""An :class:`Accounts` on a fresh file with argon2's cheapest parameters: the tests are
about the accounts, not about argon2's cost (one test checks the real parameters)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from argon2 import PasswordHasher, profiles

from accounts import Accounts

PASSWORD = "correct horse"


@pytest.fixture
def cheap() -> PasswordHasher:
    return PasswordHasher.from_parameters(profiles.CHEAPEST)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    return tmp_path / "accounts.db"


@pytest.fixture
def accounts(db: Path, cheap: PasswordHasher) -> Iterator[Accounts]:
    with Accounts(db, hasher=cheap) as a:
        yield a
