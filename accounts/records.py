"""What listing the accounts answers: a user's record and a token's, never a secret."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from accounts.roles import Role

__all__ = ["Account", "Token"]


@dataclass(frozen=True, slots=True)
class Account:
    """A user as an administrator sees it; ``tokens`` counts the tokens not revoked;
    ``department``: the department they act for, or None; ``city``: the one city they
    see, or None for every city the hub serves."""

    name: str
    role: Role
    created_at: dt.datetime
    disabled: bool
    tokens: int
    department: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Token:
    """An API token's record: its id (what ``revoke`` takes), whose, its label and when it
    was made and last used (to the minute). The token itself is not kept."""

    id: int
    user: str
    label: str
    created_at: dt.datetime
    last_used_at: dt.datetime | None
    revoked: bool
