"""API tokens: how one is made and how it is kept.

A token is ``chub_`` and 32 random bytes (``secrets.token_urlsafe``), shown once when
issued. Only its SHA-256 is stored. A fast hash is right here where it would be wrong for
passwords: a token has 256 bits of entropy, so no guessing attack gets anywhere whatever
the cost of one guess, and a slow hash would only add tens of milliseconds to every API
request. Being unsalted and deterministic, the hash is also the lookup key (a UNIQUE
index), where a salted argon2 hash would have to be tried against every stored token.
The prefix lets secret scanners and people recognise a leaked token.
"""

from __future__ import annotations

import hashlib
import secrets

__all__ = ["PREFIX", "looks_like_token", "new_token", "token_hash"]

PREFIX = "chub_"
_BYTES = 32
_MAX_LENGTH = 200


def new_token() -> str:
    """A new random token."""
    return PREFIX + secrets.token_urlsafe(_BYTES)


def token_hash(token: str) -> str:
    """What is stored of ``token``: its SHA-256, in hex."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def looks_like_token(token: object) -> bool:
    """Whether ``token`` has a token's shape: anything else is refused without a query."""
    return isinstance(token, str) and token.startswith(PREFIX) \
        and len(PREFIX) < len(token) <= _MAX_LENGTH
