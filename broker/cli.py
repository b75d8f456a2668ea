"""``cityhub broker config`` (the broker's mosquitto.conf, passwd and acl from a city pack)
and ``cityhub broker certs`` (a pilot's CA, broker and client certificates).

Registered in the ``cityhub.commands`` entry-point group. This module imports only the
core and the standard library, so ``--help`` works on any install; ``certs`` needs
``cryptography`` (``cityhub[broker]``), imported when it runs.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING, Any

from cityhub.config.pack import CityPack
from cityhub.config.packs import load_packs
from cityhub.errors import ConfigError, ConfigProblem

if TYPE_CHECKING:
    from broker.conf import BrokerOptions

__all__ = ["register"]


def _problem(option: str, message: str) -> ConfigError:
    return ConfigError([ConfigProblem("command line", option, message)])


def _local(path: str, what: str, *, must_exist: bool) -> str:
    p = Path(path).resolve()
    if must_exist and not p.is_file():
        raise _problem(what, f"no such file: {path}")
    return str(p)


def _gateways_side(packs: tuple[CityPack, ...]) -> CityPack:
    """The pack whose ``broker`` section says where the gateways connect: the first; the
    others must agree (one broker, one listener for every city's gateways)."""
    first = packs[0]
    for other in packs[1:]:
        if (other.broker.port, other.broker.tls is None) != \
                (first.broker.port, first.broker.tls is None):
            def how(p: CityPack) -> str:
                return f"{p.broker.port}{' (TLS)' if p.broker.tls else ''}"
            raise _problem("--city", f"{first.city.id}'s gateways connect on port "
                           f"{how(first)}, {other.city.id}'s on {how(other)}: one broker "
                           "serves both only if their packs' broker.port and broker.tls "
                           "agree")
    return first


def _options(args: argparse.Namespace, pack: CityPack, out: Path) -> BrokerOptions:
    """The broker's paths and listeners from the command line and the pack: the pack's
    ``broker.port`` is where its gateways connect, so it is the TLS listener's when the
    pack says they use TLS, else the plain listener's."""
    from broker.conf import BrokerOptions, TlsListener

    container = args.conf_dir is not None
    conf_dir = args.conf_dir if container else str(out.resolve())
    if args.data_dir is not None:
        data_dir = args.data_dir if container else _local(args.data_dir, "--data-dir",
                                                          must_exist=False)
    else:
        data_dir = "/mosquitto/data" if container else str((out / "data").resolve())
    if not container:
        Path(data_dir).mkdir(parents=True, exist_ok=True)
    pack_tls = pack.broker.tls is not None
    port = args.port or (1883 if pack_tls else pack.broker.port)
    tls = None
    if args.tls:
        cert, key, ca = (a if container else _local(a, "--tls", must_exist=True)
                         for a in args.tls)
        tls_port = args.tls_port or (pack.broker.port if pack_tls else 8883)
        if tls_port == port:
            raise _problem("--tls-port", f"{tls_port} is also the plain listener's port "
                           "(--port)")
        tls = TlsListener(cert, key, ca, tls_port, args.require_client_cert)
    elif args.require_client_cert or args.tls_port:
        raise _problem("--tls", "--require-client-cert and --tls-port need --tls")
    return BrokerOptions(conf_dir, data_dir, port, args.bind, tls)


def config(args: argparse.Namespace) -> int:
    """Write the three files; show each generated password once, on stdout."""
    from broker.generate import generate

    packs = load_packs(args.city)
    out = Path(args.out)
    opts = _options(args, _gateways_side(packs), out)
    g = generate(packs, out, opts, env_prefix=args.password_env_prefix,
                 keep_existing=args.keep_existing)
    for w in g.warnings:
        print(f"cityhub broker config: warning: {w}", file=sys.stderr)
    names = ", ".join(f"{p.city.name} ({p.city.id})" for p in packs)
    print(f"cityhub broker config: {names}, "
          f"{g.gateways + g.services + g.departments} accounts ({g.gateways} gateways, "
          f"{g.services} services, {g.departments} departments)")
    for path in g.files:
        print(f"  wrote {path}" + (" (0600)" if path.name in ("passwd", "acl") else ""))
    tls = opts.tls
    print(f"  listeners: {opts.port} (plain)" + (
        f", {tls.port} (TLS{', client certificate required' if tls.require_certificate else ''})"
        if tls else ""))
    if g.kept:
        print(f"  kept the existing password of {', '.join(g.kept)}")
    for line in g.passwords:
        print(line)
    if g.passwords:
        print("These generated passwords are shown once, here: passwd keeps only their "
              "hashes. Set each variable where its account runs (and in your secret store).")
    sys.stdout.flush()
    return 0


def _split(value: str | None) -> list[str]:
    return [v.strip() for v in (value or "").split(",") if v.strip()]


def certs(args: argparse.Namespace) -> int:
    """Write the CA (or reuse it), the broker's certificate and the clients'."""
    from broker.certs import issue

    hosts = _split(args.hosts)
    got = issue(Path(args.out), hosts=hosts or None, clients=_split(args.clients),
                days=args.days, ca_days=args.ca_days, ca_name=args.ca_name)
    print(f"cityhub broker certs: {'reused' if got.ca_reused else 'new'} CA {got.ca} "
          f"(key {got.ca_key}, 0600: keep it off the broker)")
    if got.server:
        print(f"  broker: {got.server[0]}, key {got.server[1]}")
    for name, (cert, key) in got.clients.items():
        print(f"  client {name}: {cert}, key {key}")
    return 0


CONFIG_HELP = """\
Write into --out, from the city pack:
  mosquitto.conf  persistence, the hub's queue and size limits, no anonymous access,
                  password_file and acl_file, the plain listener (the pack's broker.port,
                  default 1883) and, with --tls, a TLS listener (default 8883);
  passwd          (0600) one account per gateway with credentials in the pack, and
                  cityhub-ingest, cityhub-analytics, cityhub-alerts, cityhub-dashboard;
                  hashed by mosquitto_passwd (the password never on a command line or in
                  a plaintext file);
  acl             (0600) each gateway publishes only its own topics and reads nothing;
                  each service reads and writes only its own.

Passwords: a gateway's from the environment variable its credentials.password_env names
(or its password_file); a service's from {PREFIX}{SERVICE}_PASSWORD, e.g.
CITYHUB_MQTT_INGEST_PASSWORD. A password found in neither is GENERATED and printed ONCE
on stdout, as VARIABLE=password: copy it then (secret store, the account's environment);
nothing else keeps it. A gateway without credentials gets no account (a warning): it
cannot connect. See docs/broker.md."""


def register(sub: Any) -> None:
    """Add ``cityhub broker`` to the ``cityhub`` command."""
    p = sub.add_parser("broker", help="the MQTT broker's config, accounts and certificates",
                       description="The hub's Mosquitto: its configuration, accounts and "
                       "ACL from a city pack, and certificates for a pilot. See "
                       "docs/broker.md.")
    bsub = p.add_subparsers(dest="broker_command", metavar="SUBCOMMAND", required=True)
    c = bsub.add_parser("config", help="mosquitto.conf, passwd and acl from a city pack",
                        description=CONFIG_HELP,
                        formatter_class=argparse.RawDescriptionHelpFormatter)
    c.add_argument("--city", required=True, action="append", metavar="PACK",
                   help="pack name (bandung) or directory; repeat it for a broker serving "
                   "several cities (each service's account then reads every city's topics; "
                   "the packs' broker.port and broker.tls must agree)")
    c.add_argument("--out", required=True, metavar="DIR", help="where to write the files")
    c.add_argument("--password-env-prefix", default="CITYHUB_MQTT_", metavar="PREFIX",
                   help="of the services' password variables (default: CITYHUB_MQTT_)")
    c.add_argument("--conf-dir", metavar="PATH", help="the directory the broker will read "
                   "passwd and acl from, e.g. /mosquitto/config in the eclipse-mosquitto "
                   "container (default: DIR, absolute)")
    c.add_argument("--data-dir", metavar="PATH", help="persistence_location (default: "
                   "/mosquitto/data with --conf-dir, else DIR/data)")
    c.add_argument("--port", type=int, help="the plain listener's port (default: the "
                   "pack's broker.port; 1883 when the pack's gateways use TLS)")
    c.add_argument("--bind", metavar="ADDRESS", help="listen on this address only "
                   "(default: every interface)")
    c.add_argument("--tls", nargs=3, metavar=("CERT", "KEY", "CA"), help="add a TLS "
                   "listener with the broker's certificate and key, and the CA of the "
                   "clients' certificates (as the broker will see the paths)")
    c.add_argument("--tls-port", type=int, help="default: 8883 (the pack's broker.port "
                   "when the pack's gateways use TLS)")
    c.add_argument("--require-client-cert", action="store_true",
                   help="the TLS listener also requires a client certificate signed by CA")
    c.add_argument("--keep-existing", action="store_true",
                   help="an account whose password is not in the environment keeps its "
                   "hash from DIR/passwd instead of a new password (adding a gateway)")
    c.set_defaults(handler=config, extra="broker")
    t = bsub.add_parser(
        "certs", help="a pilot's CA, broker and client certificates",
        description="For a pilot: a self-signed CA (reused if DIR has one), the broker's "
        "certificate for --hosts (DNS names and IP addresses) and one client certificate "
        "per --clients name (common name = the broker username). Keys are written 0600; "
        "the CA's key stays in DIR: keep it off the broker. A deployment uses the city's "
        "own or a public CA (docs/broker.md).")
    t.add_argument("--out", required=True, metavar="DIR")
    t.add_argument("--hosts", help="comma-separated, e.g. mqtt.example.org,127.0.0.1 "
                   "(default: localhost,127.0.0.1 when DIR has no server certificate yet)")
    t.add_argument("--clients", help="comma-separated usernames, e.g. "
                   "gw-dago,cityhub-ingest")
    t.add_argument("--days", type=int, default=365, help="validity of the broker's and "
                   "clients' certificates (default: 365)")
    t.add_argument("--ca-days", type=int, default=3650, help="validity of a new CA "
                   "(default: 3650)")
    t.add_argument("--ca-name", default="City hub pilot CA", help="a new CA's common name")
    t.set_defaults(handler=certs, extra="broker")
