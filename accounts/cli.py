"""``cityhub users``: add, change and remove the hub's users, issue and revoke their API
tokens (docs/accounts.md).

Registered in the ``cityhub.commands`` entry-point group; needs ``cityhub[accounts]`` to
run. A password is never an argument (it would be in the shell history and in ``ps``): it
is prompted for twice, or read from stdin (``--password-stdin``) or from an environment
variable (``--password-env VAR``) for scripts. Bad input (an invalid name, an unknown
user, a short password) is one line on stderr and exit status 2, as for every command.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sqlite3
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from cityhub.secrets import secret

if TYPE_CHECKING:
    from accounts.store import Accounts

__all__ = ["DB_ENV", "DEFAULT_DB", "register"]

DB_ENV = "CITYHUB_ACCOUNTS_DB"
DEFAULT_DB = "var/accounts.db"
ROLES = ("viewer", "operator", "admin")


class _Refused(Exception):
    """Input the command refuses before it reaches the accounts (a password typed twice
    differently, none on stdin)."""


def _db_path(args: argparse.Namespace) -> str:
    return str(args.db or os.environ.get(DB_ENV) or DEFAULT_DB)


def _password(args: argparse.Namespace) -> str:
    """The new password: from the variable ``--password-env`` names, from stdin's first
    line, or typed twice at the terminal."""
    if args.password_env:
        value = secret(args.password_env, what=f"password of {args.name}")
        assert value is not None  # secret() raises for an unset variable
        return value
    if args.password_stdin:
        line = sys.stdin.readline()
        if not line:
            raise _Refused("no password on stdin")
        return line.rstrip("\r\n")
    if not sys.stdin.isatty():
        raise _Refused("no terminal to ask for the password on: use --password-stdin or "
                       "--password-env VAR")
    first = getpass.getpass(f"New password for {args.name}: ")
    if getpass.getpass("Again: ") != first:
        raise _Refused("the two passwords differ; nothing changed")
    return first


def _add(accounts: Accounts, args: argparse.Namespace) -> int:
    from accounts.rules import check_city, check_department, check_name

    check_name(args.name)  # before asking for a password
    check_department(args.department)
    check_city(args.city)
    accounts.add(args.name, args.role, _password(args), args.department, args.city)
    of = (f", department {args.department}" if args.department else "") \
        + (f", city {args.city} only" if args.city else "")
    print(f"cityhub users: added {args.name} ({args.role}{of})")
    return 0


def _passwd(accounts: Accounts, args: argparse.Namespace) -> int:
    from accounts.rules import AccountError

    if accounts.get(args.name) is None:  # before asking for a password
        raise AccountError(f"no user named {args.name!r}")
    accounts.set_password(args.name, _password(args))
    print(f"cityhub users: password of {args.name} changed (their tokens still work: "
          "revoke them apart)")
    return 0


def _role(accounts: Accounts, args: argparse.Namespace) -> int:
    accounts.set_role(args.name, args.role)
    print(f"cityhub users: {args.name} is now {args.role}")
    return 0


def _department(accounts: Accounts, args: argparse.Namespace) -> int:
    accounts.set_department(args.name, args.department)
    print(f"cityhub users: {args.name} "
          + (f"now acts for department {args.department}" if args.department
             else "now belongs to no department"))
    return 0


def _city(accounts: Accounts, args: argparse.Namespace) -> int:
    accounts.set_city(args.name, args.city)
    print(f"cityhub users: {args.name} "
          + (f"now sees city {args.city} only" if args.city
             else "now sees every city the hub serves"))
    return 0


def _disable(accounts: Accounts, args: argparse.Namespace) -> int:
    disabled = args.users_command == "disable"
    accounts.set_disabled(args.name, disabled)
    print(f"cityhub users: {args.name} {'disabled' if disabled else 'enabled'}")
    return 0


def _remove(accounts: Accounts, args: argparse.Namespace) -> int:
    revoked = accounts.remove(args.name)
    print(f"cityhub users: removed {args.name} ({revoked} token(s) revoked)")
    return 0


def _list(accounts: Accounts, args: argparse.Namespace) -> int:
    users = accounts.list()
    if not users:
        print(f"no users in {accounts.path}: add one with 'cityhub users add NAME --role "
              "admin'")
        return 0
    print(f"{'name':<24} {'role':<9} {'department':<16} {'city':<12} "
          f"{'created (UTC)':<20} {'tokens':>6}  state")
    for u in users:
        created = u.created_at.strftime("%Y-%m-%d %H:%M:%S")
        print(f"{u.name:<24} {u.role.value:<9} {u.department or '-':<16} "
              f"{u.city or '(all)':<12} {created:<20} "
              f"{u.tokens:>6}  {'disabled' if u.disabled else 'active'}")
    return 0


def _token(accounts: Accounts, args: argparse.Namespace) -> int:
    token = accounts.issue_token(args.name, args.label)
    record = accounts.find_token(token)
    assert record is not None
    # The token alone on stdout (for TOKEN=$(cityhub users token ...)); the rest on stderr.
    print(f"cityhub users: token {record.id} for {args.name}"
          f"{f' ({record.label})' if record.label else ''}; it is shown only once, now: "
          "store it safely", file=sys.stderr)
    print(token)
    return 0


def _tokens(accounts: Accounts, args: argparse.Namespace) -> int:
    tokens = accounts.tokens(args.name)
    if not tokens:
        print(f"no tokens for {args.name}")
        return 0
    print(f"{'id':>5}  {'label':<20} {'created (UTC)':<20} {'last used (UTC)':<20} state")
    for t in tokens:
        created = t.created_at.strftime("%Y-%m-%d %H:%M:%S")
        used = t.last_used_at.strftime("%Y-%m-%d %H:%M") if t.last_used_at else "never"
        print(f"{t.id:>5}  {t.label:<20} {created:<20} {used:<20} "
              f"{'revoked' if t.revoked else 'active'}")
    return 0


def _revoke(accounts: Accounts, args: argparse.Namespace) -> int:
    accounts.revoke_token(args.token_id)
    print(f"cityhub users: token {args.token_id} revoked")
    return 0


def _handler(work: Callable[[Accounts, argparse.Namespace], int]
             ) -> Callable[[argparse.Namespace], int]:
    """Open the accounts file, run ``work``, close it; refused input is exit status 2."""
    def run(args: argparse.Namespace) -> int:
        from accounts.rules import AccountError
        from accounts.store import Accounts

        path = _db_path(args)
        try:
            with Accounts(path) as accounts:
                return work(accounts, args)
        except (AccountError, _Refused) as e:
            print(f"cityhub users: {e}", file=sys.stderr)
            return 2
        except sqlite3.DatabaseError as e:
            print(f"cityhub users: cannot use {path}: {e}", file=sys.stderr)
            return 2
    return run


def register(sub: Any) -> None:
    """Add ``cityhub users`` to the ``cityhub`` command."""
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--db", metavar="PATH",
                        help=f"the accounts file; default: ${DB_ENV}, else {DEFAULT_DB}")
    p = sub.add_parser(
        "users", help="user accounts: add, change, remove; API tokens",
        description="Manage the hub's user accounts and their API tokens, kept in one "
        "SQLite file that the alerts API and the dashboards read. Roles: viewer (reads "
        "alarms), operator (acts on alarms, manages silences), admin (manages users). "
        "A user may belong to a department of the city pack, whose run-time alert "
        "subscriptions its operators may change, and may be scoped to one city of a hub "
        "that serves several. See docs/accounts.md.")
    usub = p.add_subparsers(dest="users_command", metavar="SUBCOMMAND", required=True)

    def command(name: str, work: Callable[[Accounts, argparse.Namespace], int],
                help_: str, description: str) -> argparse.ArgumentParser:
        c: argparse.ArgumentParser = usub.add_parser(
            name, parents=[common], help=help_, description=description)
        c.set_defaults(handler=_handler(work), extra="accounts")
        return c

    def password_options(c: argparse.ArgumentParser) -> None:
        g = c.add_mutually_exclusive_group()
        g.add_argument("--password-stdin", action="store_true",
                       help="read the password from the first line of stdin")
        g.add_argument("--password-env", metavar="VAR",
                       help="read the password from the environment variable VAR")

    a = command("add", _add, "add a user",
                "Add a user with a role. The password (at least 8 characters) is asked for "
                "twice, unless --password-stdin or --password-env gives it. A name is 1 to "
                "64 lowercase letters, digits, '.', '_' or '-'.")
    a.add_argument("name", metavar="NAME")
    a.add_argument("--role", required=True, choices=ROLES)
    a.add_argument("--department", metavar="ID",
                   help="the department (an id of the city pack's alerts.departments) the "
                   "user acts for")
    a.add_argument("--city", metavar="ID",
                   help="scope the user to this city (a pack's city.id) of a hub that serves "
                   "several; default: every city")
    password_options(a)
    w = command("passwd", _passwd, "set a user's password",
                "Set a user's password (asked for twice, or --password-stdin / "
                "--password-env). Their API tokens stay valid; revoke them apart.")
    w.add_argument("name", metavar="NAME")
    password_options(w)
    r = command("role", _role, "change a user's role",
                "Change a user's role; it applies to their next request.")
    r.add_argument("name", metavar="NAME")
    r.add_argument("role", metavar="ROLE", choices=ROLES, help=", ".join(ROLES))
    def set_or_clear(c: argparse.ArgumentParser, dest: str, clear: str, clear_help: str
                     ) -> None:
        """NAME, then an ID for ``dest`` or the ``clear`` flag (None), one of the two."""
        c.add_argument("name", metavar="NAME")
        which = c.add_mutually_exclusive_group(required=True)
        which.add_argument(dest, metavar="ID", nargs="?", default=None)
        which.add_argument(clear, dest=dest, action="store_const", const=None,
                           help=clear_help)

    set_or_clear(command("department", _department, "set or clear a user's department",
                         "Set the department (an id of the city pack's alerts.departments) "
                         "a user acts for, or --none. An operator may change the run-time "
                         "alert subscriptions of their own department only."),
                 "department", "--none", "the user belongs to no department")
    set_or_clear(command("city", _city, "scope a user to one city, or to all",
                         "Scope a user to one city (a pack's city.id) of a hub that serves "
                         "several: the dashboards and the alerts API then show them that "
                         "city only. --all: every city the hub serves. It applies to their "
                         "next request."),
                 "city", "--all", "the user sees every city the hub serves")
    for verb, what in (("disable", "refuse a user's password and tokens, keeping them"),
                       ("enable", "accept a disabled user again")):
        d = command(verb, _disable, what, f"{what[0].upper()}{what[1:]}.")
        d.add_argument("name", metavar="NAME")
    m = command("remove", _remove, "remove a user and revoke their tokens",
                "Remove a user; their API tokens are revoked (their records stay).")
    m.add_argument("name", metavar="NAME")
    command("list", _list, "list the users",
            "List the users: role, department, city, when added, how many tokens not revoked, "
            "disabled.")
    t = command("token", _token, "issue an API token",
                "Issue an API token for a user (HTTP 'Authorization: Bearer TOKEN'). The "
                "token is printed once, alone on stdout; only its SHA-256 is kept.")
    t.add_argument("name", metavar="NAME")
    t.add_argument("--label", default="", help="what the token is for (ci, grafana, ...)")
    s = command("tokens", _tokens, "list a user's API tokens",
                "List a user's API tokens: id (what 'revoke' takes), label, when made and "
                "last used, revoked or not.")
    s.add_argument("name", metavar="NAME")
    v = command("revoke", _revoke, "revoke an API token",
                "Revoke an API token by its id ('cityhub users tokens NAME' lists them).")
    v.add_argument("token_id", metavar="TOKEN_ID", type=int)
