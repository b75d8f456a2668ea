"""User accounts of the hub: users with a role and an argon2id password, and their API
tokens, in one SQLite file (docs/accounts.md). The one place accounts live: the alerts
HTTP API and the dashboards' login authenticate through :class:`Accounts`, administrators
manage it with ``cityhub users`` (:mod:`accounts.cli`).

    from accounts import Accounts, Role
    accounts = Accounts("var/accounts.db")
    user = accounts.authenticate(request.headers.get("Authorization"))  # in a thread
    if user is None or not user.allows(Role.OPERATOR): ...  # 401 / 403

Needs the ``accounts`` extra (argon2-cffi) for :class:`Accounts`, which is imported when
first asked for: the rest (roles, records, rules, header parsing) needs only the core, so
``cityhub users --help`` works on any install.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from accounts.authorization import Basic, Bearer, parse_authorization
from accounts.records import Account, Token
from accounts.roles import Role, User
from accounts.rules import AccountError

if TYPE_CHECKING:
    from accounts.store import Accounts

__all__ = ["Account", "AccountError", "Accounts", "Basic", "Bearer", "Role", "Token", "User",
           "parse_authorization"]


def __getattr__(name: str) -> Any:
    if name == "Accounts":
        from accounts.store import Accounts

        return Accounts
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
