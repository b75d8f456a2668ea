"""Secrets from the environment or a file, resolved once at start-up."""

from __future__ import annotations

import os
from pathlib import Path

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["secret"]


def secret(env: str | None = None, file: str | None = None, *, what: str) -> str | None:
    """The secret named by an environment variable or stored in a file, or None."""
    if env:
        value = os.environ.get(env)
        if value is None:
            raise ConfigError([ConfigProblem("environment", env, f"is not set ({what})")])
        return value
    if file:
        try:
            return Path(file).read_text(encoding="utf-8").strip()
        except OSError as e:
            raise ConfigError([ConfigProblem(file, "", f"cannot read {what}: {e}")]) from e
    return None
