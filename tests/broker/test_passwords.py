"""Passwords: where each comes from, and the password file the real mosquitto_passwd
hashes (whether the broker accepts those hashes: tests/broker/test_live_acl.py)."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from broker.accounts import Account
from broker.passwd import write_passwd
from broker.passwords import Password, generated_line, read_hashes, resolve
from cityhub.errors import ConfigError

GW = Account("gw-a", "gateway", "gw-a", password_env="GW_A_PASSWORD")


def test_resolve_env_then_file_then_generated(tmp_path: Path) -> None:
    assert resolve(GW, {"GW_A_PASSWORD": "from-env"}) == Password("from-env")
    made = resolve(GW, {}, generate=lambda: "fresh")
    assert made == Password("fresh", generated=True)
    assert generated_line(GW, made) == "generated password for gw-a: GW_A_PASSWORD=fresh"
    assert "fresh" not in repr(made)

    f = tmp_path / "pw"
    on_file = Account("gw-f", "gateway", "gw-f", password_file=str(f))
    made = resolve(on_file, {}, generate=lambda: "fresh")
    assert made.generated and str(f) in generated_line(on_file, made)
    f.write_text("from-file\n")
    assert resolve(on_file, {}) == Password("from-file")


@pytest.mark.parametrize("bad", ["", "two\nlines", "cr\r"])
def test_a_password_is_one_non_empty_line(bad: str) -> None:
    with pytest.raises(ConfigError, match="one non-empty line") as e:
        resolve(GW, {"GW_A_PASSWORD": bad})
    assert bad not in str(e.value) or not bad


def test_generated_passwords_differ() -> None:
    a, b = resolve(GW, {}), resolve(GW, {})
    assert a.generated and len(a.value) >= 40 and a.value != b.value


def test_write_passwd_hashes_and_keeps_nothing_else(tmp_path: Path) -> None:
    out = tmp_path / "conf"
    kept = "old-user:$7$101$abc$def"
    write_passwd(out / "passwd", [("gw-a", "secret one"), ("cityhub-ingest", "s3cret-two")],
                 [kept])
    text = (out / "passwd").read_text()
    lines = text.splitlines()
    assert lines[0] == kept
    assert [line.split(":", 1)[0] for line in lines] == ["old-user", "gw-a", "cityhub-ingest"]
    assert all(line.split(":", 1)[1].startswith("$7$") for line in lines)  # PBKDF2-SHA512
    assert "secret one" not in text and "s3cret-two" not in text
    assert stat.S_IMODE((out / "passwd").stat().st_mode) == 0o600
    assert [p.name for p in out.iterdir()] == ["passwd"]  # no temporary file left
    assert read_hashes(out / "passwd")["gw-a"] == lines[1]
    assert read_hashes(tmp_path / "none") == {}


def test_a_refused_account_names_no_password(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mosquitto_passwd") as e:
        write_passwd(tmp_path / "passwd", [("bad:name", "do-not-show-me")])
    assert "do-not-show-me" not in str(e.value)
    assert list(tmp_path.iterdir()) == []
