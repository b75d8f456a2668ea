"""``cityhub users`` end to end, as an administrator runs it: a real process each time."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from argon2 import PasswordHasher

from accounts import Accounts, Role, User

PASSWORD = "correct horse"


def users(*args: str, stdin: str = "", cwd: Path | None = None,
          env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if k != "CITYHUB_ACCOUNTS_DB"}
    return subprocess.run([sys.executable, "-m", "cityhub", "users", *args], input=stdin,
                          capture_output=True, text=True, timeout=120, cwd=cwd,
                          env={**base, **(env or {})})


def test_add_list_token_role_remove(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    added = users("add", "ann", "--role", "operator", "--password-stdin", "--db", db,
                  stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added ann (operator)" in added.stdout
    again = users("add", "ann", "--role", "admin", "--password-stdin", "--db", db,
                  stdin=PASSWORD + "\n")
    assert again.returncode == 2
    assert "cityhub users: user 'ann' exists already" in again.stderr

    listed = users("list", "--db", db)
    assert listed.returncode == 0, listed.stderr
    (row,) = [ln.split() for ln in listed.stdout.splitlines() if ln.startswith("ann ")]
    assert row[1] == "operator" and row[-2:] == ["0", "active"]

    issued = users("token", "ann", "--label", "ci", "--db", db)
    assert issued.returncode == 0, issued.stderr
    token = issued.stdout.strip()  # the token alone on stdout
    assert token.startswith("chub_") and "\n" not in token
    assert "shown only once" in issued.stderr and "token 1 for ann (ci)" in issued.stderr
    with Accounts(db, hasher=PasswordHasher()) as accounts:
        assert accounts.verify_token(token) == User("ann", Role.OPERATOR, "token")
        assert accounts.verify_password("ann", PASSWORD) is not None
    tokens = users("tokens", "ann", "--db", db)
    assert tokens.returncode == 0
    assert [ln.split()[:2] for ln in tokens.stdout.splitlines()[1:]] == [["1", "ci"]]

    role = users("role", "ann", "admin", "--db", db)
    assert role.returncode == 0 and "ann is now admin" in role.stdout
    listed = users("list", "--db", db)
    assert "ann " in listed.stdout and " admin " in listed.stdout
    assert " 1  active" in listed.stdout  # one token

    removed = users("remove", "ann", "--db", db)
    assert removed.returncode == 0, removed.stderr
    assert "removed ann (1 token(s) revoked)" in removed.stdout
    listed = users("list", "--db", db)
    assert listed.returncode == 0 and "no users in" in listed.stdout
    with Accounts(db) as accounts:
        assert accounts.verify_token(token) is None


def test_bad_input_is_exit_status_2(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    for args, stdin, message in (
            (("add", "Ann", "--role", "viewer", "--password-stdin"), PASSWORD,
             "invalid user name 'Ann'"),
            (("add", "ann", "--role", "viewer", "--password-stdin"), "short\n",
             "at least 8 characters"),
            (("add", "ann", "--role", "viewer", "--password-stdin"), "",
             "no password on stdin"),
            (("add", "ann", "--role", "viewer"), "", "no terminal"),
            (("role", "nobody", "admin"), "", "no user named 'nobody'"),
            (("remove", "nobody"), "", "no user named 'nobody'"),
            (("token", "nobody"), "", "no user named 'nobody'"),
            (("revoke", "7"), "", "no token with id 7")):
        done = users(*args, "--db", db, stdin=stdin)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
        assert done.stdout == ""
    wrong = users("role", "ann", "root", "--db", db)  # argparse's choices
    assert wrong.returncode == 2 and "invalid choice" in wrong.stderr
    with Accounts(db) as accounts:
        assert accounts.list() == []


def test_password_from_the_environment_and_passwd(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    added = users("add", "ann", "--role", "viewer", "--password-env", "ANN_PW", "--db", db,
                  env={"ANN_PW": PASSWORD})
    assert added.returncode == 0, added.stderr
    unset = users("add", "bob", "--role", "viewer", "--password-env", "BOB_PW", "--db", db)
    assert unset.returncode == 2 and "BOB_PW: is not set" in unset.stderr
    changed = users("passwd", "ann", "--password-stdin", "--db", db,
                    stdin="a new password\r\n")
    assert changed.returncode == 0, changed.stderr
    with Accounts(db) as accounts:
        assert accounts.verify_password("ann", PASSWORD) is None
        assert accounts.verify_password("ann", "a new password") == User(
            "ann", Role.VIEWER, "password")
        assert accounts.get("bob") is None


def test_where_the_file_is(tmp_path: Path) -> None:
    """--db, else $CITYHUB_ACCOUNTS_DB, else var/accounts.db under the working directory."""
    env_db = tmp_path / "env" / "accounts.db"
    done = users("add", "ann", "--role", "viewer", "--password-stdin", stdin=PASSWORD,
                 cwd=tmp_path, env={"CITYHUB_ACCOUNTS_DB": str(env_db)})
    assert done.returncode == 0, done.stderr
    done = users("add", "bob", "--role", "viewer", "--password-stdin", stdin=PASSWORD,
                 cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    with Accounts(env_db) as a, Accounts(tmp_path / "var" / "accounts.db") as b:
        assert [u.name for u in a.list()] == ["ann"]
        assert [u.name for u in b.list()] == ["bob"]


def test_without_the_extra(tmp_path: Path) -> None:
    """Without argon2-cffi, --help still works and running says which extra to install."""
    code = ("import sys; sys.modules['argon2'] = None\n"
            "from cityhub.cli import main\nsys.exit(main(sys.argv[1:]))")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([sys.executable, "-c", code, "users", *args],
                              capture_output=True, text=True, timeout=120)

    helped = run("add", "--help")
    assert helped.returncode == 0 and "--password-stdin" in helped.stdout, helped.stderr
    listed = run("list", "--db", str(tmp_path / "a.db"))
    assert listed.returncode == 2
    assert "pip install 'cityhub[accounts]'" in listed.stderr, listed.stderr


def test_departments(tmp_path: Path) -> None:
    db = str(tmp_path / "accounts.db")
    added = users("add", "ann", "--role", "operator", "--department", "bpbd",
                  "--password-stdin", "--db", db, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added ann (operator, department bpbd)" in added.stdout
    assert users("add", "bob", "--role", "viewer", "--password-stdin", "--db", db,
                 stdin=PASSWORD).returncode == 0
    bad = users("add", "cy", "--role", "viewer", "--department", "Dinas PU",
                "--password-stdin", "--db", db, stdin=PASSWORD)
    assert bad.returncode == 2 and "invalid department id 'Dinas PU'" in bad.stderr

    def rows() -> dict[str, list[str]]:
        listed = users("list", "--db", db)
        assert listed.returncode == 0, listed.stderr
        header, *lines = listed.stdout.splitlines()
        assert header.split()[:3] == ["name", "role", "department"]
        return {ln.split()[0]: ln.split() for ln in lines}

    listed = rows()
    assert listed["ann"][1:3] == ["operator", "bpbd"] and listed["bob"][2] == "-"
    assert set(listed) == {"ann", "bob"}
    with Accounts(db) as accounts:
        assert accounts.verify_password("ann", PASSWORD) == User(
            "ann", Role.OPERATOR, "password", "bpbd")

    moved = users("department", "bob", "dishub", "--db", db)
    assert moved.returncode == 0, moved.stderr
    assert "bob now acts for department dishub" in moved.stdout
    cleared = users("department", "ann", "--none", "--db", db)
    assert cleared.returncode == 0 and "ann now belongs to no department" in cleared.stdout
    listed = rows()
    assert listed["ann"][2] == "-" and listed["bob"][2] == "dishub"

    for args, message in ((("department", "bob"), "one of the arguments ID --none"),
                          (("department", "bob", "x", "--none"), "not allowed with"),
                          (("department", "nobody", "bpbd"), "no user named 'nobody'"),
                          (("department", "bob", "BPBD"), "invalid department id 'BPBD'")):
        done = users(*args, "--db", db)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
    assert rows()["bob"][2] == "dishub"


def test_cities(tmp_path: Path) -> None:
    """A user scoped to one city of a hub that serves several, and back to all; their
    password and token logins carry the scope."""
    db = str(tmp_path / "accounts.db")
    added = users("add", "bo", "--role", "operator", "--city", "bogor",
                  "--password-stdin", "--db", db, stdin=PASSWORD + "\n")
    assert added.returncode == 0, added.stderr
    assert "added bo (operator, city bogor only)" in added.stdout
    assert users("add", "al", "--role", "viewer", "--password-stdin", "--db", db,
                 stdin=PASSWORD).returncode == 0
    bad = users("add", "cy", "--role", "viewer", "--city", "Bogor!",
                "--password-stdin", "--db", db, stdin=PASSWORD)
    assert bad.returncode == 2 and "invalid city id 'Bogor!'" in bad.stderr
    listed = users("list", "--db", db)
    assert listed.returncode == 0, listed.stderr
    rows = {ln.split()[0]: ln.split() for ln in listed.stdout.splitlines()[1:]}
    assert rows["bo"][3] == "bogor" and rows["al"][3] == "(all)"
    with Accounts(db) as accounts:
        bo = accounts.verify_password("bo", PASSWORD)
        assert bo is not None and bo.city == "bogor"
        assert bo.sees("bogor") and not bo.sees("bandung")
        token = accounts.issue_token("bo")
        assert accounts.verify_token(token).city == "bogor"  # type: ignore[union-attr]
        al = accounts.verify_password("al", PASSWORD)
        assert al is not None and al.sees("bandung") and al.sees("bogor")

    moved = users("city", "al", "bandung", "--db", db)
    assert moved.returncode == 0 and "al now sees city bandung only" in moved.stdout
    freed = users("city", "bo", "--all", "--db", db)
    assert freed.returncode == 0 and "bo now sees every city" in freed.stdout
    with Accounts(db) as accounts:
        assert accounts.get("al").city == "bandung"  # type: ignore[union-attr]
        assert accounts.get("bo").city is None  # type: ignore[union-attr]
    for args, message in ((("city", "al"), "one of the arguments ID --all"),
                          (("city", "nobody", "bogor"), "no user named 'nobody'"),
                          (("city", "al", "BOGOR"), "invalid city id 'BOGOR'")):
        done = users(*args, "--db", db)
        assert done.returncode == 2, (args, done.stdout, done.stderr)
        assert message in done.stderr, (args, done.stderr)
