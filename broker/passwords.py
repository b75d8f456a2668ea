"""Each account's password: from the environment variable (or the gateway's password file)
it names, else generated.

A generated password exists only in memory until :mod:`broker.passwd` hashes it and the
command prints it, once, with the variable to set where the account runs: nothing else
keeps it, so it must be copied from that output (into the secret store, the gateway's
environment). ``--keep-existing`` keeps an account's hash from the password file already
there instead, so adding a gateway does not change the others' passwords.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from broker.accounts import Account
from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["Password", "generated_line", "new_password", "read_hashes", "resolve"]


@dataclass(frozen=True, slots=True)
class Password:
    """A resolved password; ``generated`` says the command made it (and must show it)."""

    value: str
    generated: bool = False

    def __repr__(self) -> str:  # never in a log or a traceback
        return f"Password(<hidden>, generated={self.generated})"


def new_password() -> str:
    """32 random bytes, URL-safe (no character a shell or an env file would mangle)."""
    return secrets.token_urlsafe(32)


def _checked(value: str, account: Account, source: str) -> str:
    # mosquitto_passwd reads a line from stdin: no line breaks, not empty.
    if not value or "\n" in value or "\r" in value:
        raise ConfigError([ConfigProblem(source, "", f"the password of {account.username} "
                                         "must be one non-empty line")])
    return value


def resolve(account: Account, environ: Mapping[str, str],
            generate: Callable[[], str] = new_password) -> Password:
    """``account``'s password: its environment variable if set, else its password file if
    readable, else a new one."""
    if account.password_env and account.password_env in environ:
        return Password(_checked(environ[account.password_env], account,
                                 f"environment variable {account.password_env}"))
    if account.password_file:
        try:
            text = Path(account.password_file).read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            pass
        except OSError as e:
            raise ConfigError([ConfigProblem(account.password_file, "", "cannot read the "
                                             f"password of {account.username}: {e}")]) from e
        else:
            return Password(_checked(text, account, account.password_file))
    return Password(generate(), generated=True)


def generated_line(account: Account, password: Password) -> str:
    """The one line that shows a generated password, with where it must go."""
    if account.password_env:
        return (f"generated password for {account.username}: "
                f"{account.password_env}={password.value}")
    if account.password_file:
        return (f"generated password for {account.username} (write it to "
                f"{account.password_file} on the gateway): {password.value}")
    # a gateway with credentials but no password source: only the username is known
    return f"generated password for {account.username}: {password.value}"


def read_hashes(path: Path) -> dict[str, str]:
    """username -> its whole ``username:hash`` line, from an existing password file (none:
    empty)."""
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    out = {}
    for line in text.splitlines():
        user, sep, digest = line.partition(":")
        if sep and digest.startswith("$"):
            out[user] = line
    return out
