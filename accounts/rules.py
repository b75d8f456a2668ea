"""What a user name, a password, a role, a department, a city and a token label must be, and the
error for what breaks the rules.

Names are slug-like logins (they appear in URLs, logs and audit trails, and HTTP Basic
cannot carry a ``:`` in one), checked on the way in, never silently rewritten: ``Alice``
is refused, not stored as ``alice``.
"""

from __future__ import annotations

import re

from accounts.roles import Role
from cityhub.errors import HubError
from cityhub.topics import SLUG

__all__ = ["MAX_LABEL", "MAX_PASSWORD", "MIN_PASSWORD", "AccountError", "check_city",
           "check_department", "check_label", "check_name", "check_password", "check_role"]

NAME = re.compile(r"[a-z0-9][a-z0-9._-]{0,63}")
# an id as a city pack spells it: a department's (``alerts.departments[].id``), a city's
PACK_ID = re.compile(SLUG)
MIN_PASSWORD = 8
# argon2 takes any length, but a megabyte "password" is a request to burn CPU and memory.
MAX_PASSWORD = 1024
MAX_LABEL = 100


class AccountError(HubError, ValueError):
    """A request the accounts refuse: a bad name, password, role or label, a user who
    exists already or does not exist, an unknown token. A ``ValueError`` too, so callers
    that validate input can catch either; the message is meant for the person who typed
    the input."""


def check_name(name: str) -> str:
    """``name`` if it is a valid user name, else :class:`AccountError` saying why."""
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise AccountError(
            f"invalid user name {name!r}: 1 to 64 characters, lowercase letters, digits, "
            "'.', '_' or '-', starting with a letter or a digit")
    return name


def _pack_id(value: str | None, what: str) -> str | None:
    """``value`` if it is None or a valid id of ``what`` (a slug, as in a city pack), else
    :class:`AccountError`."""
    if value is None:
        return None
    if not isinstance(value, str) or not PACK_ID.fullmatch(value):
        raise AccountError(
            f"invalid {what} id {value!r}: 1 to 63 characters, lowercase letters, digits, "
            "'_' or '-', starting with a letter or a digit")
    return value


def check_department(department: str | None) -> str | None:
    """``department`` if it is None (no department) or a valid department id (a slug, as
    in the city pack), else :class:`AccountError`. Whether the pack has that department
    is for the services that read the pack to say: the accounts file knows no pack."""
    return _pack_id(department, "department")


def check_city(city: str | None) -> str | None:
    """``city`` if it is None (every city the hub serves) or a valid city id (a slug, as a
    pack's ``city.id``), else :class:`AccountError`. Whether the hub serves that city is
    for the services that read the packs to say."""
    return _pack_id(city, "city")


def check_password(password: str) -> str:
    """``password`` if it is long enough (and not absurdly long)."""
    if not isinstance(password, str) or len(password) < MIN_PASSWORD:
        raise AccountError(f"the password is too short: at least {MIN_PASSWORD} characters")
    if len(password) > MAX_PASSWORD:
        raise AccountError(f"the password is too long: at most {MAX_PASSWORD} characters")
    return password


def check_role(role: Role | str) -> Role:
    """The :class:`Role` named by ``role``."""
    try:
        return Role(role)
    except ValueError:
        raise AccountError(f"unknown role {role!r}: one of "
                           f"{', '.join(r.value for r in Role)}") from None


def check_label(label: str) -> str:
    """A token's label, stripped: free text to tell tokens apart (``ci``, ``grafana``)."""
    label = label.strip()
    if len(label) > MAX_LABEL or not label.isprintable():
        raise AccountError(f"invalid token label {label!r}: at most {MAX_LABEL} printable "
                           "characters")
    return label
