"""The Authorization header: Basic and Bearer accepted, anything else None, never an
exception."""

from __future__ import annotations

import base64

import pytest

from accounts import Accounts, Basic, Bearer, Role, User, parse_authorization
from tests.accounts.conftest import PASSWORD


def basic(credentials: str) -> str:
    return "Basic " + base64.b64encode(credentials.encode()).decode()


def test_basic_and_bearer(accounts: Accounts) -> None:
    accounts.add("ann", Role.OPERATOR, PASSWORD)
    token = accounts.issue_token("ann")
    assert accounts.authenticate(basic(f"ann:{PASSWORD}")) == User(
        "ann", Role.OPERATOR, "password")
    assert accounts.authenticate(f"Bearer {token}") == User("ann", Role.OPERATOR, "token")
    assert accounts.authenticate(f"bearer  {token} ") == User("ann", Role.OPERATOR, "token")
    assert accounts.authenticate(basic(f"ann:{PASSWORD}").replace("Basic", "BASIC")) \
        is not None
    assert accounts.authenticate(basic("ann:wrong password")) is None
    assert accounts.authenticate(basic(f"bob:{PASSWORD}")) is None
    assert accounts.authenticate(f"Basic {token}") is None
    assert accounts.authenticate(f"Bearer {token}x") is None
    assert accounts.authenticate(f"Token {token}") is None


def test_a_password_may_hold_colons(accounts: Accounts) -> None:
    accounts.add("ann", Role.VIEWER, "a:b:c:d:e")
    assert accounts.authenticate(basic("ann:a:b:c:d:e")) is not None


@pytest.mark.parametrize("header", [
    None, "", " ", "Basic", "Basic ", "Bearer", "Bearer ", "Basic !!!notbase64",
    "Basic " + base64.b64encode(b"no colon").decode(),
    "Basic " + base64.b64encode(b":password only").decode(),
    "Basic " + base64.b64encode(b"\xff\xfe:x").decode(),
    "Basic YW5uOmNvcnJlY3QgaG9yc2U",  # padding missing
    "Bearer a b", "Digest username=ann", "ann:correct horse", "\x00\x01",
    "Bearer " + "chub_" + "A" * 5000,
    "Basic " + base64.b64encode(b"ann:x").decode() + "\u00e9",  # not ASCII (found by schemathesis)
])
def test_garbage_is_none(accounts: Accounts, header: str | None) -> None:
    accounts.add("ann", Role.ADMIN, PASSWORD)
    assert accounts.authenticate(header) is None


def test_parse() -> None:
    assert parse_authorization(basic("ann:pw:x")) == Basic("ann", "pw:x")
    assert parse_authorization("Bearer chub_x") == Bearer("chub_x")
    assert "pw" not in repr(parse_authorization(basic("ann:pw")))
    assert "chub_x" not in repr(parse_authorization("Bearer chub_x"))
