"""``cityhub config check PACK...``: validate city packs (the core's own command; it needs
nothing but the core, so it runs on a gateway too)."""

from __future__ import annotations

import argparse
import sys
from collections import Counter
from typing import Any

from cityhub.config import load_pack
from cityhub.config.pack import CityPack
from cityhub.errors import ConfigError


def summary(pack: CityPack) -> str:
    """A short description of a valid pack."""
    domains = Counter(s.domain.value for gw in pack.gateways for s in gw.sensors)
    per = ", ".join(f"{d} {n}" for d, n in sorted(domains.items()))
    n = sum(domains.values())
    rivers = "".join(f", river {r.name} ({len(r.links)} links)" for r in pack.rivers)
    corridors = f", {len(pack.corridors)} traffic corridors" if pack.corridors else ""
    return (f"{pack.city.id}: {pack.city.name} ({pack.city.timezone}), "
            f"{len(pack.districts)} districts, {len(pack.gateways)} gateways, "
            f"{n} sensors ({per}), {len(pack.profiles)} profiles{rivers}{corridors}")


def check(args: argparse.Namespace) -> int:
    """Validate each pack; exit status 1 if any is invalid."""
    status = 0
    for path in args.packs:
        try:
            pack = load_pack(path)
        except ConfigError as e:
            status = 1
            print(f"{path}: INVALID, {len(e.problems)} problem(s)")
            for p in e.problems:
                print(f"  {p}")
        else:
            print(f"{path}: OK  {summary(pack)}")
    sys.stdout.flush()
    return status


def register(sub: Any) -> None:
    """Add ``cityhub config`` to the ``cityhub`` command."""
    p = sub.add_parser("config", help="validate configuration",
                       description="Validate configuration files.")
    csub = p.add_subparsers(dest="config_command", metavar="SUBCOMMAND", required=True)
    c = csub.add_parser(
        "check", help="validate city packs",
        description="Load each city pack (directory with city.yaml and gateways/, or the "
        "name of a shipped pack such as 'bandung'), apply its 'extends:' overlay and "
        "validate it. Prints a summary of a valid pack, or every problem with file, line, "
        "key path and what was expected. Exit status 1 if any pack is invalid.")
    c.add_argument("packs", nargs="+", metavar="PACK")
    c.set_defaults(handler=check)
