"""Who is asking and what they may do: the three roles and the user a request is from.

The roles are ordered, each allowing what the one below it allows (``viewer < operator <
admin``), so a permission check is one comparison, :meth:`Role.allows`, and not a table
that each HTTP layer would keep its own copy of.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Literal

__all__ = ["Role", "User"]


class Role(StrEnum):
    """A user's role: ``viewer`` reads, ``operator`` acts on alarms, ``admin`` manages
    users (docs/accounts.md).

    A ``str`` so it is stored and sent as its name, but ordered by rank, not by spelling:
    as strings ``"admin" < "viewer"``, which is why the comparisons are overridden, and
    why comparing a role with a plain string raises ``TypeError`` rather than answering
    alphabetically.
    """

    VIEWER = "viewer"
    OPERATOR = "operator"
    ADMIN = "admin"

    @property
    def rank(self) -> int:
        """0 for viewer, 1 for operator, 2 for admin (the order of definition)."""
        return list(Role).index(self)

    def allows(self, required: Role) -> bool:
        """Whether this role may do what needs ``required``: it ranks at least as high."""
        return self.rank >= Role(required).rank

    def _other_rank(self, other: object) -> int:
        if isinstance(other, Role):
            return other.rank
        raise TypeError(f"a Role compares with a Role, not {type(other).__name__} "
                        f"{other!r}: Role({other!r}) first")

    def __lt__(self, other: object) -> bool:
        return self.rank < self._other_rank(other)

    def __le__(self, other: object) -> bool:
        return self.rank <= self._other_rank(other)

    def __gt__(self, other: object) -> bool:
        return self.rank > self._other_rank(other)

    def __ge__(self, other: object) -> bool:
        return self.rank >= self._other_rank(other)


@dataclass(frozen=True, slots=True)
class User:
    """The user a request was authenticated as, and how (``via``): what an HTTP layer
    hands on to its handlers, which decide with :meth:`allows`. ``department``: the
    department of the city pack they act for (its run-time alert subscriptions are
    theirs to change), or None. ``city``: the one city (a pack's ``city.id``) they see, or
    None for every city the hub serves (:meth:`sees`)."""

    name: str
    role: Role
    via: Literal["password", "token"]
    department: str | None = None
    city: str | None = None

    def sees(self, city: str) -> bool:
        """Whether the user may see (and, as their role allows, act on) ``city``."""
        return self.city is None or self.city == city

    def allows(self, required: Role) -> bool:
        """Whether the user's role allows what needs ``required``."""
        return self.role.allows(required)
