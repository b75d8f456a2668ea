"""The ``cityhub`` command: one registry of the commands each package owns.

Each package of the hub owns its commands in its own ``cli`` module (``edge/cli.py``,
``ingest/cli.py``, ``dashboards/cli.py``, the demo's ``demo/cli.py``, and this package's
:mod:`cityhub.cli.config`). Each is named in the ``cityhub.commands`` entry-point group of
``pyproject.toml``, the one registry, as ``NAME = "package.cli:register"``; ``register``
adds the command's argparse subparser and its ``handler``. So the core imports no other
package of the hub: it reads the registry.

A command module imports only the core and the standard library at its top, so every
command's ``--help`` works on any install; what a command needs from an extra is imported
when it runs, and a missing one is a clear error naming the extra to install
(``set_defaults(extra=...)``). A command that runs until stopped says so
(``set_defaults(runs_until_stopped=True)``): stopped by SIGTERM or Ctrl-C it exits 0, where
an interrupted one-shot command exits 130.
"""

from __future__ import annotations

import argparse
import signal
import sys
import threading
from collections.abc import Callable, Sequence
from importlib.metadata import entry_points, packages_distributions
from typing import Any

from cityhub.errors import ConfigError
from cityhub.logs import setup_logging

__all__ = ["COMMANDS_GROUP", "main", "parser"]

COMMANDS_GROUP = "cityhub.commands"
EPILOG = "Run 'cityhub COMMAND --help' for a command's options. Docs: README.md and docs/."


def _unavailable(name: str, error: Exception) -> Callable[[Any], None]:
    """A command whose module could not be loaded: listed, and its error said when run."""
    def register(sub: Any) -> None:
        p = sub.add_parser(name, help=f"(unavailable: {error})", add_help=False)
        p.add_argument("rest", nargs=argparse.REMAINDER)

        def fail(_args: argparse.Namespace) -> int:
            print(f"cityhub {name}: cannot load the command: {error}", file=sys.stderr)
            return 2
        p.set_defaults(handler=fail)
    return register


def parser() -> argparse.ArgumentParser:
    """The ``cityhub`` parser with every registered command."""
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
    for ep in sorted(entry_points(group=COMMANDS_GROUP), key=lambda e: e.name):
        try:
            register = ep.load()
        except ImportError as e:
            register = _unavailable(ep.name, e)
        register(sub)
    return p


def _interrupt(_signum: int, _frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``cityhub`` console script; returns the exit status.

    A command that runs until stopped handles SIGTERM and SIGINT itself
    (:mod:`cityhub.signals`); one that comes before it is running (while it starts) stops
    it as Ctrl-C would, and it exits 0 all the same.
    """
    args = parser().parse_args(argv)
    setup_logging(args.log_level, args.log_format)
    main_thread = threading.current_thread() is threading.main_thread()
    before = signal.signal(signal.SIGTERM, _interrupt) if main_thread else None
    try:
        return _run(args)
    finally:
        if main_thread:
            signal.signal(signal.SIGTERM, before)


def _run(args: argparse.Namespace) -> int:
    try:
        result: int = args.handler(args)
    except ConfigError as e:
        print(f"cityhub: {e}", file=sys.stderr)
        return 2
    except ModuleNotFoundError as e:
        top = (e.name or "").split(".")[0]
        if "cityhub" in packages_distributions().get(top, ()):
            raise  # a module of the hub itself: a bug, not a missing extra
        extra = getattr(args, "extra", None)
        hint = f": pip install 'cityhub[{extra}]'" if extra else ""
        print(f"cityhub {args.command}: needs the Python package {e.name!r}, which is not "
              f"installed{hint}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        if getattr(args, "runs_until_stopped", False):
            print(f"cityhub {args.command}: stopped while starting", file=sys.stderr)
            return 0
        print(f"cityhub {args.command}: interrupted", file=sys.stderr)
        return 130
    return result
