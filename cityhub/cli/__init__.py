"""The ``cityhub`` command: the edge of every process.

Each subcommand loads its configuration once, builds its collaborators and runs them;
this package is the only place that imports the hub's other packages (edge, ingest,
dashboards), and does so lazily so a gateway without Dash or numba can run ``cityhub edge``.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence

from cityhub.errors import ConfigError
from cityhub.logs import setup_logging

__all__ = ["main"]

EPILOG = """\
commands:
  demo           run a simulated city end to end in one process, dashboards in a browser
  config check   validate city packs and print a summary, or every problem found
  edge run       run the publisher of one gateway of a city pack (simulated drivers)
  ingest         consume telemetry from MQTT into the store
  dashboard      serve the command-centre dashboards for a city

Run 'cityhub COMMAND --help' for a command's options. Docs: README.md and docs/.
"""


def _parser() -> argparse.ArgumentParser:
    from cityhub.cli import config_cmd, demo, edge_cmd, ingest_cmd, serve_cmd

    p = argparse.ArgumentParser(
        prog="cityhub", description="Smart-city IoT hub: edge agents, MQTT ingest, "
        "analytics and a Dash command centre.", epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--log-level", default="INFO",
                   choices=["DEBUG", "INFO", "WARNING", "ERROR"], help="default: INFO")
    p.add_argument("--log-format", default="text", choices=["text", "json"],
                   help="text lines (default) or one JSON object per line (time, level, "
                   "logger, message, exception) for log collectors")
    sub = p.add_subparsers(dest="command", metavar="COMMAND", required=True)
    for module in (demo, config_cmd, edge_cmd, ingest_cmd, serve_cmd):
        module.register(sub)
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cityhub`` console script; returns the exit status."""
    args = _parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    try:
        result: int = args.handler(args)
    except ConfigError as e:
        print(f"cityhub: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    return result
