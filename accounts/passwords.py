"""Password hashing: argon2id through argon2-cffi's :class:`~argon2.PasswordHasher`.

argon2id is the memory-hard hash RFC 9106 recommends; argon2-cffi's defaults are its
low-memory profile (64 MiB, 3 passes, 4 lanes), which takes tens of milliseconds by
design. The parameters travel inside each stored hash, so raising them later needs no
migration: a hash made with weaker ones is replaced at the user's next successful login
(:meth:`Passwords.needs_rehash`).

The one module of the package that imports argon2 (the ``accounts`` extra).
"""

from __future__ import annotations

import logging
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

__all__ = ["Passwords"]

log = logging.getLogger(__name__)


class Passwords:
    """Hashes and verifies passwords with one :class:`~argon2.PasswordHasher` (thread-safe:
    it holds only its parameters).

    ``dummy_verify`` does the work of a verification against a hash of the same cost, so
    that a login for a name that does not exist takes as long as one with a wrong password
    and timing does not tell which names exist. The dummy hash is made once, here, so that
    its cost is not paid (and measurable) on the first unknown name.
    """

    def __init__(self, hasher: PasswordHasher | None = None) -> None:
        self.hasher = hasher if hasher is not None else PasswordHasher()
        self._dummy = self.hasher.hash(secrets.token_urlsafe(16))

    def hash(self, password: str) -> str:
        """A new salted hash of ``password``, with the hasher's current parameters."""
        return self.hasher.hash(password)

    def verify(self, stored: str, password: str) -> bool:
        """Whether ``password`` matches ``stored``; False for a hash that is not one."""
        try:
            return self.hasher.verify(stored, password)
        except VerificationError:  # includes VerifyMismatchError: the wrong password
            return False
        except InvalidHashError:
            log.warning("a stored password hash is not an argon2 hash: the user cannot log "
                        "in until their password is set again")
            return False

    def needs_rehash(self, stored: str) -> bool:
        """Whether ``stored`` was made with other parameters than the hasher's."""
        return self.hasher.check_needs_rehash(stored)

    def dummy_verify(self, password: str) -> None:
        """As much work as :meth:`verify`, for a user who does not exist."""
        self.verify(self._dummy, password)
