"""The hub's error tree.

Every error the hub raises on purpose derives from :class:`HubError`::

    HubError
    ├── ConfigError          a city pack or settings file is invalid (lists every problem)
    ├── DecodeError          an MQTT message breaks the wire contract (topic or SenML pack)
    │   └── ContractError    decodes, but disagrees with the city pack (unknown device, ...)
    └── SinkError            a store refused or failed a write
                             (``retryable``, ``retry_after`` tell the caller what to do)

Callers catch the narrowest class they can handle; anything else is a bug and is allowed
to surface.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["ConfigError", "ConfigProblem", "ContractError", "DecodeError", "HubError", "SinkError"]


class HubError(Exception):
    """Base class of every error the hub raises on purpose."""


@dataclass(frozen=True, slots=True)
class ConfigProblem:
    """One thing wrong in a config file: where (file, line, key path) and what."""

    file: str
    path: str
    message: str
    line: int | None = None

    def __str__(self) -> str:
        where = self.file if self.line is None else f"{self.file}:{self.line}"
        key = f" {self.path}:" if self.path else ""
        return f"{where}:{key} {self.message}"


class ConfigError(HubError):
    """A config file or city pack is invalid. ``problems`` lists every problem found."""

    def __init__(self, problems: list[ConfigProblem]) -> None:
        self.problems = problems
        lines = "\n".join(f"  {p}" for p in problems)
        super().__init__(f"{len(problems)} problem(s) in configuration:\n{lines}")


class DecodeError(HubError):
    """A message breaks the wire contract. ``reason`` is a short machine-readable code
    (used as a metric label and dead-letter reason); the message says which record and
    which label."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class ContractError(DecodeError):
    """A well-formed message that disagrees with the city pack (unknown device, a device
    published under another gateway's topic, a time too far in the future, ...)."""


class SinkError(HubError):
    """A store failed a write.

    ``retryable`` says whether sending the same batch again may succeed; ``retry_after``
    (seconds) is the server's hint (HTTP ``Retry-After``), if it gave one.
    """

    def __init__(
        self, message: str, *, retryable: bool, retry_after: float | None = None,
        status: int | None = None,
    ) -> None:
        self.retryable = retryable
        self.retry_after = retry_after
        self.status = status
        super().__init__(message)
