"""``cityhub broker config`` without its command line: the three files of a city's broker
written into one directory, and what the command must tell its user.

The texts come from the pure builders (:mod:`broker.conf`, :mod:`broker.acl`); only the
password file needs the outside world (the environment, ``mosquitto_passwd``). The
generated passwords are returned, not printed: the caller shows them once.
"""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

from broker.accounts import DEFAULT_ENV_PREFIX, accounts_of
from broker.acl import acl_text
from broker.conf import BrokerOptions, mosquitto_conf
from broker.passwd import write_passwd
from broker.passwords import generated_line, read_hashes, resolve
from cityhub.config.pack import CityPack

__all__ = ["Generated", "generate", "write_text"]


@dataclass(frozen=True, slots=True)
class Generated:
    """What was written, the lines showing generated passwords (each once), warnings."""

    files: tuple[Path, ...]
    gateways: int
    services: int
    departments: int = 0
    passwords: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    warnings: tuple[str, ...] = field(default=())


def write_text(path: Path, text: str, mode: int) -> Path:
    """Write ``path`` whole or not at all (a temporary file renamed), with ``mode``."""
    tmp = path.with_name(f".{path.name}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        os.fchmod(f.fileno(), mode)
        f.write(text)
    os.replace(tmp, path)
    return path


def generate(packs: CityPack | Sequence[CityPack], out: Path, opts: BrokerOptions, *,
             environ: Mapping[str, str] | None = None,
             env_prefix: str = DEFAULT_ENV_PREFIX, keep_existing: bool = False) -> Generated:
    """Write ``mosquitto.conf``, ``passwd`` (0600) and ``acl`` (0600) for the packs' city
    (or cities: one broker for a hub serving several) into ``out``. With
    ``keep_existing``, an account whose password is in neither the environment nor its
    file keeps its hash from ``out/passwd`` instead of a new one."""
    env = os.environ if environ is None else environ
    listed = [packs] if isinstance(packs, CityPack) else list(packs)
    accounts = accounts_of(listed, env_prefix)
    warnings = [f"gateway {g} has no credentials in the pack: no account, so it cannot "
                "connect to this broker" for g in accounts.without_credentials]
    warnings += [f"gateway {a.gateway}: credentials name no password_env or password_file, "
                 "so its edge agent sends no password and cannot log in"
                 for a in accounts.gateways if not (a.password_env or a.password_file)]
    for pack in listed:
        if pack.broker.tls is not None and opts.tls is None:
            warnings.append(f"{pack.city.id}'s gateways connect with TLS (broker.tls) on "
                            f"port {pack.broker.port}, but no TLS listener was asked for "
                            "(--tls)")
    out.mkdir(parents=True, exist_ok=True)
    old = read_hashes(out / "passwd") if keep_existing else {}
    hashed: list[tuple[str, str]] = []
    kept: list[str] = []
    shown: list[str] = []
    for a in accounts.accounts:
        pw = resolve(a, env)
        if pw.generated and a.username in old:
            kept.append(a.username)
            continue
        if pw.generated:
            shown.append(generated_line(a, pw))
        hashed.append((a.username, pw.value))
    write_passwd(out / "passwd", hashed, [old[u] for u in kept])
    files = (write_text(out / "acl", acl_text(listed, accounts), 0o600),
             out / "passwd",
             write_text(out / "mosquitto.conf", mosquitto_conf(listed, opts), 0o644))
    roles = [a.role for a in accounts.accounts]
    gateways, departments = roles.count("gateway"), roles.count("department")
    return Generated(files, gateways, len(roles) - gateways - departments, departments,
                     tuple(shown), tuple(kept), tuple(warnings))
