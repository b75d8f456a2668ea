"""The HTTP ``Authorization`` header, parsed: ``Basic`` (RFC 7617) or ``Bearer`` (RFC
6750), anything else nothing.

Pure parsing, no verification, so the HTTP layers (the alerts API, the dashboards' login)
share one reading of the header and :meth:`accounts.Accounts.authenticate` is all they
call. Malformed input is never an exception: a header an attacker wrote is answered with
None, as a wrong password is.
"""

from __future__ import annotations

import base64
import binascii
from dataclasses import dataclass, field

__all__ = ["Basic", "Bearer", "parse_authorization"]

# Far above any honest header (a 64-character name and a 1024-character password in
# base64 are under 1.5 kB); bounds the work an unauthenticated request can ask for.
MAX_HEADER = 4096


@dataclass(frozen=True, slots=True)
class Basic:
    """A user name and password (the password left out of ``repr``, so of logs)."""

    name: str
    password: str = field(repr=False)


@dataclass(frozen=True, slots=True)
class Bearer:
    """An API token (left out of ``repr``)."""

    token: str = field(repr=False)


def parse_authorization(header: str | None) -> Basic | Bearer | None:
    """The credentials ``header`` carries, or None when it is absent or malformed.

    The scheme is case-insensitive (RFC 9110); Basic's value is strict base64 of UTF-8
    ``name:password``, split at the first colon (a name has none).
    """
    if not header or len(header) > MAX_HEADER:
        return None
    scheme, _, value = header.strip().partition(" ")
    value = value.strip()
    if not value or " " in value:
        return None
    if scheme.lower() == "bearer":
        return Bearer(value)
    if scheme.lower() != "basic":
        return None
    try:  # b64decode raises ValueError (not binascii.Error) for a non-ASCII str
        decoded = base64.b64decode(value, validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError, ValueError):
        return None
    name, colon, password = decoded.partition(":")
    if not colon or not name:
        return None
    return Basic(name, password)
