"""The broker's accounts: one per gateway that has credentials in the city pack, one per
hub service (``cityhub-ingest``, ``cityhub-analytics``, ``cityhub-alerts``,
``cityhub-dashboard``), and one per department with an MQTT contact in the pack's alerts
(``dept-{id}``, which reads its own ``city/{city}/notify/{id}``).

A broker may serve several cities (one hub, several packs): each city's gateways and
departments get their accounts, the services one account each that reads and writes
every city's topics, and a department's account is then ``dept-{city}-{id}`` (two cities
may both have a ``bpbd``).

Each account names where its password comes from (an environment variable, or a gateway's
password file) but never holds it: passwords are resolved by :mod:`broker.passwords` when
the password file is written, and go nowhere else. A gateway without credentials gets no
account: with ``allow_anonymous false`` it could not connect, which the command says.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass

from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["DEFAULT_ENV_PREFIX", "SERVICES", "Account", "Accounts", "accounts_of",
           "service_accounts"]

# The hub's services, in the order the ACL lists them.
SERVICES: tuple[str, ...] = ("ingest", "analytics", "alerts", "dashboard")
DEFAULT_ENV_PREFIX = "CITYHUB_MQTT_"

# Usernames go into the ACL file (``user NAME``) and the password file (``NAME:hash``):
# no spaces, no ``:``, and no ``+`` / ``#``, which Mosquitto refuses in pattern ACLs.
_USERNAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,127}$")
_ENV_PREFIX = re.compile(r"^[A-Z_][A-Z0-9_]*$")


@dataclass(frozen=True, slots=True)
class Account:
    """One broker login. ``role`` is ``gateway`` or the name of a service; ``gateway`` is
    the gateway's id (its topics use the id, its login the pack's username); ``city`` the
    city of a gateway or department (None: a service, of every city)."""

    username: str
    role: str  # "gateway", "department" (``gateway`` then holds the department's id) or a service
    gateway: str | None = None
    password_env: str | None = None
    password_file: str | None = None
    city: str | None = None


@dataclass(frozen=True, slots=True)
class Accounts:
    """Every account of the broker's cities (``cities``, in order), and the gateways left
    without one (no credentials)."""

    accounts: tuple[Account, ...]
    without_credentials: tuple[str, ...]
    cities: tuple[str, ...] = ()

    @property
    def gateways(self) -> tuple[Account, ...]:
        return tuple(a for a in self.accounts if a.role == "gateway")


def service_accounts(env_prefix: str = DEFAULT_ENV_PREFIX) -> tuple[Account, ...]:
    """The hub's service accounts; each password from ``{prefix}{SERVICE}_PASSWORD``
    (``CITYHUB_MQTT_INGEST_PASSWORD`` by default)."""
    if not _ENV_PREFIX.match(env_prefix):
        raise ConfigError([ConfigProblem("command line", "--password-env-prefix",
                                         f"{env_prefix!r} is not the start of an environment "
                                         "variable name (A-Z, 0-9, _)")])
    return tuple(Account(f"cityhub-{s}", s, password_env=f"{env_prefix}{s.upper()}_PASSWORD")
                 for s in SERVICES)


def accounts_of(packs: CityPack | Sequence[CityPack],
                env_prefix: str = DEFAULT_ENV_PREFIX) -> Accounts:
    """The accounts of the packs' cities: each city's gateways (in pack order), then the
    services', then the departments with an MQTT contact.

    A username that Mosquitto's files cannot hold, or one used twice (two gateways, of one
    city or two, or a gateway and a service: an account is one identity and one set of
    topics), is a :class:`ConfigError` naming the gateway.
    """
    listed = [packs] if isinstance(packs, CityPack) else list(packs)
    several = len(listed) > 1
    gateways: list[Account] = []
    without: list[str] = []
    departments: list[Account] = []
    for pack in listed:
        city = pack.city.id
        for gw in pack.gateways:
            c = gw.credentials
            if c is None:
                without.append(f"{city}/{gw.id}" if several else gw.id)
                continue
            gateways.append(Account(c.username, "gateway", gw.id, c.password_env,
                                    c.password_file, city))
        for d in pack.alerts.departments:
            if not any(c.channel == "mqtt" for c in d.contacts):
                continue
            name = f"{city}-{d.id}" if several else d.id
            departments.append(Account(
                f"dept-{name}", "department", d.id, city=city,
                password_env=f"{env_prefix}DEPT_{name.upper().replace('-', '_')}_PASSWORD"))
    accounts = (*gateways, *service_accounts(env_prefix), *departments)
    problems: list[ConfigProblem] = []
    seen: dict[str, Account] = {}
    for a in accounts:
        where = f"{a.role} {a.gateway}" if a.gateway else f"service {a.role}"
        city = a.city or ", ".join(p.city.id for p in listed)
        if not _USERNAME.match(a.username):
            problems.append(ConfigProblem(city, f"{where}: credentials.username",
                                          f"{a.username!r} cannot be a broker username "
                                          "(letters, digits, '.', '_', '@', '-')"))
        elif a.username in seen:
            other = seen[a.username]
            owner = f"gateway {other.gateway}" if other.gateway else f"service {other.role}"
            if several and other.city:
                owner += f" of {other.city}"
            problems.append(ConfigProblem(
                city, f"{where}: credentials.username",
                f"{a.username!r} is already the account of {owner}"
                "; each gateway needs its own account"))
        seen.setdefault(a.username, a)
    if problems:
        raise ConfigError(problems)
    return Accounts(accounts, tuple(without), tuple(p.city.id for p in listed))
