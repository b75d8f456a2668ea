"""Log output of every ``cityhub`` process: text lines for people, or JSON lines
(``--log-format json``) for journald, Loki or any collector that parses fields."""

from __future__ import annotations

import logging
import sys

import orjson

__all__ = ["JsonFormatter", "setup_logging"]

QUIET_LOGGERS = ("werkzeug",)
TEXT_FORMAT = "%(asctime)s %(levelname)-7s %(name)s: %(message)s"


class JsonFormatter(logging.Formatter):
    """One JSON object per record: ``time`` (UNIX s), ``level``, ``logger``, ``message``,
    and ``exception`` (the formatted traceback) when there is one."""

    def format(self, record: logging.LogRecord) -> str:
        doc: dict[str, object] = {"time": round(record.created, 6), "level": record.levelname,
                                  "logger": record.name, "message": record.getMessage()}
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return orjson.dumps(doc).decode()


def setup_logging(level: str, fmt: str = "text") -> None:
    """Log to stderr at ``level`` as ``text`` or ``json`` lines."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else logging.Formatter(TEXT_FORMAT))
    logging.basicConfig(level=level, handlers=[handler])
    # Libraries that log every request at INFO (werkzeug: each page load and each
    # dashboard callback): their warnings only, unless DEBUG asks for everything.
    for name in QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.DEBUG if level == "DEBUG" else logging.WARNING)
