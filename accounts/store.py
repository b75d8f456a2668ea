"""The user accounts: one SQLite file of users and API tokens (:class:`Accounts`)."""

from __future__ import annotations

import builtins
import datetime as dt
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import AbstractContextManager, contextmanager
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any

from accounts.authorization import Basic, parse_authorization
from accounts.passwords import Passwords
from accounts.records import Account, Token
from accounts.roles import Role, User
from accounts.rules import (
    MAX_PASSWORD,
    AccountError,
    check_city,
    check_department,
    check_label,
    check_name,
    check_password,
    check_role,
)
from accounts.schema import create_or_check
from accounts.tokens import looks_like_token, new_token, token_hash
from cityhub.sqlitedb import open_sqlite, transaction

if TYPE_CHECKING:
    from argon2 import PasswordHasher

__all__ = ["LAST_USED_RESOLUTION", "Accounts"]

# A token's last use is recorded to this resolution: a write per API request would make
# every read request a write too.
LAST_USED_RESOLUTION = dt.timedelta(minutes=1)


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC).replace(microsecond=0)


def _text(t: dt.datetime) -> str:
    """The stored form of a time: ISO 8601 in UTC to the second, so that stored times
    compare as strings in SQL."""
    return t.astimezone(dt.UTC).isoformat(timespec="seconds")


def _time(text: str | None) -> dt.datetime | None:
    return None if text is None else dt.datetime.fromisoformat(text)


def _token(row: tuple[Any, ...]) -> Token:
    id_, user, label, created, last_used, revoked = row
    return Token(int(id_), user, label, dt.datetime.fromisoformat(created), _time(last_used),
                 bool(revoked))


class Accounts:
    """Users (name, role, argon2id password hash, disabled, department, city) and their API
    tokens, in one SQLite file shared by every process of the hub that authenticates: the
    alerts API, the dashboards' login, the ``cityhub users`` command.

    The file is opened in WAL mode, so several processes (and several :class:`Accounts`
    on one file) see each other's changes as soon as they commit, and a reader never waits
    for a writer. One connection is shared by the threads of a process, under a lock;
    every write is one ``BEGIN IMMEDIATE`` transaction.

    Verifying a password costs tens of milliseconds of CPU and 64 MiB by design (argon2id,
    :mod:`accounts.passwords`), and is done outside the lock so that logins do not queue
    behind each other: code on an event loop calls :meth:`verify_password` and
    :meth:`authenticate` through ``await asyncio.to_thread(...)``, never directly. Token
    checks are one indexed query, but touch the disk all the same.

    ``hasher`` sets the argon2 parameters (tests pass a cheap one); opening costs one hash
    (the dummy of :class:`~accounts.passwords.Passwords`).
    """

    def __init__(self, path: str | Path, *, hasher: PasswordHasher | None = None) -> None:
        self.path = str(path)
        self._passwords = Passwords(hasher)
        self._lock = threading.Lock()
        self._db = open_sqlite(self.path)
        try:
            create_or_check(self._db, self.path)
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        with self._lock:
            self._db.close()

    def __enter__(self) -> Accounts:
        return self

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None,
                 tb: TracebackType | None) -> None:
        self.close()

    @contextmanager
    def _read(self) -> Iterator[sqlite3.Connection]:
        with self._lock:
            yield self._db

    def _write(self) -> AbstractContextManager[sqlite3.Connection]:
        """One write transaction; rolled back when the block raises."""
        return transaction(self._db, self._lock)

    def _require(self, db: sqlite3.Connection, name: str) -> tuple[Any, ...]:
        row: tuple[Any, ...] | None = db.execute(
            "SELECT role, password_hash, disabled FROM users WHERE name = ?", (name,)
        ).fetchone()
        if row is None:
            raise AccountError(f"no user named {name!r}")
        return row

    # -- users ------------------------------------------------------------------------------

    def add(self, name: str, role: Role | str, password: str,
            department: str | None = None, city: str | None = None) -> None:
        """Add a user, who acts for ``department`` (an id of the city pack's departments)
        if given, and sees only ``city`` (a pack's ``city.id``) if given, else every city
        the hub serves; :class:`~accounts.rules.AccountError` (a ``ValueError``) for an
        invalid name, role, password, department or city id, or a name taken already."""
        check_name(name)
        role = check_role(role)
        department = check_department(department)
        city = check_city(city)
        check_password(password)
        if self.get(name) is not None:  # before the slow hash; the INSERT decides
            raise AccountError(f"user {name!r} exists already")
        hashed = self._passwords.hash(password)
        try:
            with self._write() as db:
                db.execute("INSERT INTO users (name, role, password_hash, created_at, "
                           "department, city) VALUES (?, ?, ?, ?, ?, ?)",
                           (name, role.value, hashed, _text(_now()), department, city))
        except sqlite3.IntegrityError:
            raise AccountError(f"user {name!r} exists already") from None

    def set_password(self, name: str, password: str) -> None:
        """Replace a user's password (their tokens stay valid: revoke them apart)."""
        check_password(password)
        with self._read() as db:
            self._require(db, name)
        hashed = self._passwords.hash(password)
        with self._write() as db:
            if db.execute("UPDATE users SET password_hash = ? WHERE name = ?",
                          (hashed, name)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")

    def set_role(self, name: str, role: Role | str) -> None:
        """Change a user's role; it applies to their next request, tokens included."""
        role = check_role(role)
        with self._write() as db:
            if db.execute("UPDATE users SET role = ? WHERE name = ?",
                          (role.value, name)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")

    def set_department(self, name: str, department: str | None) -> None:
        """Set the department a user acts for (None: none); it applies to their next
        request (a password login the API remembers: within its cache's 30 s)."""
        department = check_department(department)
        with self._write() as db:
            if db.execute("UPDATE users SET department = ? WHERE name = ?",
                          (department, name)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")

    def set_city(self, name: str, city: str | None) -> None:
        """Scope a user to one city (a pack's ``city.id``), or None: every city the hub
        serves; it applies to their next request."""
        city = check_city(city)
        with self._write() as db:
            if db.execute("UPDATE users SET city = ? WHERE name = ?",
                          (city, name)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")

    def set_disabled(self, name: str, disabled: bool) -> None:
        """Disable a user (no password or token of theirs is accepted, nothing is deleted)
        or enable them again."""
        with self._write() as db:
            if db.execute("UPDATE users SET disabled = ? WHERE name = ?",
                          (int(disabled), name)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")

    def remove(self, name: str) -> int:
        """Delete a user and revoke their tokens (whose records stay); returns how many
        tokens were revoked."""
        with self._write() as db:
            revoked = db.execute("UPDATE tokens SET revoked = 1 WHERE user = ? AND "
                                 "revoked = 0", (name,)).rowcount
            if db.execute("DELETE FROM users WHERE name = ?", (name,)).rowcount == 0:
                raise AccountError(f"no user named {name!r}")
        return revoked

    def get(self, name: str) -> Account | None:
        """The user named ``name``, or None."""
        found = self._accounts("WHERE u.name = ?", (name,))
        return found[0] if found else None

    def _accounts(self, where: str, args: tuple[Any, ...]) -> builtins.list[Account]:
        with self._read() as db:
            rows = db.execute(
                "SELECT u.name, u.role, u.created_at, u.disabled, (SELECT COUNT(*) FROM "
                "tokens t WHERE t.user = u.name AND t.revoked = 0), u.department, "
                f"u.city FROM users u {where} ORDER BY u.name", args).fetchall()
        return [Account(n, Role(r), dt.datetime.fromisoformat(c), bool(d), int(k), dept, city)
                for n, r, c, d, k, dept, city in rows]

    # -- passwords --------------------------------------------------------------------------

    def verify_password(self, name: str, password: str) -> User | None:
        """The user, if ``password`` is theirs and they are not disabled; else None.

        As slow for a name that does not exist as for a wrong password (a dummy
        verification), and as slow for a disabled user as for an enabled one, so timing
        tells nothing about which names exist. A hash made with older argon2 parameters is
        replaced by one with the current ones. Tens of milliseconds of CPU: from an event
        loop, call it in a thread (``asyncio.to_thread``).
        """
        if not isinstance(name, str) or not isinstance(password, str) \
                or len(password) > MAX_PASSWORD:
            return None
        with self._read() as db:
            row = db.execute("SELECT role, password_hash, disabled, department, city FROM "
                             "users "
                             "WHERE name = ?", (name,)).fetchone()
        if row is None:
            self._passwords.dummy_verify(password)
            return None
        role, stored, disabled, department, city = row
        if not self._passwords.verify(stored, password) or disabled:
            return None
        if self._passwords.needs_rehash(stored):
            hashed = self._passwords.hash(password)
            with self._write() as db:  # unless the password was changed meanwhile
                db.execute("UPDATE users SET password_hash = ? WHERE name = ? AND "
                           "password_hash = ?", (hashed, name, stored))
        return User(name, Role(role), "password", department, city)

    # -- tokens -----------------------------------------------------------------------------

    def issue_token(self, name: str, label: str = "") -> str:
        """A new API token for ``name`` (not disabled); only its SHA-256 is stored
        (:mod:`accounts.tokens` says why a fast hash is right for tokens), so this is the
        one time it can be shown. ``label`` tells a user's tokens apart."""
        label = check_label(label)
        token = new_token()
        with self._write() as db:
            if self._require(db, name)[2]:
                raise AccountError(f"user {name!r} is disabled")
            db.execute("INSERT INTO tokens (user, label, token_hash, created_at) VALUES "
                       "(?, ?, ?, ?)", (name, label, token_hash(token), _text(_now())))
        return token

    def find_token(self, token: str) -> Token | None:
        """The record of ``token`` (revoked or not), or None; not a use of it."""
        if not looks_like_token(token):
            return None
        with self._read() as db:
            row = db.execute("SELECT id, user, label, created_at, last_used_at, revoked "
                             "FROM tokens WHERE token_hash = ?", (token_hash(token),)
                             ).fetchone()
        return None if row is None else _token(row)

    def verify_token(self, token: str) -> User | None:
        """The user whose token this is, if it is not revoked and they are not disabled;
        else None. Records the use (``last_used_at``, to the minute)."""
        if not looks_like_token(token):
            return None
        with self._read() as db:
            row = db.execute(
                "SELECT t.id, t.user, u.role, t.last_used_at, u.department, u.city FROM "
                "tokens t "
                "JOIN users u ON u.name = t.user WHERE t.token_hash = ? AND t.revoked = 0 "
                "AND u.disabled = 0", (token_hash(token),)).fetchone()
        if row is None:
            return None
        id_, name, role, last_used, department, city = row
        now = _now()
        stale = _text(now - LAST_USED_RESOLUTION)
        if last_used is None or last_used <= stale:  # else no write, not even a lock
            with self._write() as db:
                db.execute("UPDATE tokens SET last_used_at = ? WHERE id = ? AND "
                           "(last_used_at IS NULL OR last_used_at <= ?)",
                           (_text(now), id_, stale))
        return User(name, Role(role), "token", department, city)

    def revoke_token(self, token_id: int) -> None:
        """Revoke a token by its id (:meth:`tokens` lists them); revoking one twice is
        not an error, an id never issued is."""
        with self._write() as db:
            if db.execute("UPDATE tokens SET revoked = 1 WHERE id = ?",
                          (token_id,)).rowcount == 0:
                raise AccountError(f"no token with id {token_id}")

    def tokens(self, name: str) -> builtins.list[Token]:
        """Every token issued to ``name``, revoked ones included, oldest first."""
        with self._read() as db:
            rows = db.execute("SELECT id, user, label, created_at, last_used_at, revoked "
                              "FROM tokens WHERE user = ? ORDER BY id", (name,)).fetchall()
        return [_token(r) for r in rows]

    # -- HTTP -------------------------------------------------------------------------------

    def authenticate(self, authorization: str | None) -> User | None:
        """The user an HTTP ``Authorization`` header proves, or None: ``Basic
        base64(name:password)`` (:meth:`verify_password`) or ``Bearer <token>``
        (:meth:`verify_token`); a missing, malformed or other-scheme header is None.
        Password checks are slow by design: from an event loop, run it in a thread."""
        credentials = parse_authorization(authorization)
        if isinstance(credentials, Basic):
            return self.verify_password(credentials.name, credentials.password)
        if credentials is not None:
            return self.verify_token(credentials.token)
        return None

    def list(self) -> builtins.list[Account]:
        """Every user, by name."""
        return self._accounts("", ())
