"""Exponential backoff with full jitter (the AWS architecture blog's "full jitter")."""

from __future__ import annotations

import random

__all__ = ["backoff_delay", "retry_after_seconds"]


def backoff_delay(
    attempt: int,
    *,
    base: float = 0.5,
    cap: float = 30.0,
    retry_after: float | None = None,
    rng: random.Random | None = None,
) -> float:
    """Seconds to wait before retry number ``attempt`` (0 = first retry).

    A uniformly random delay in ``[0, min(cap, base * 2**attempt)]`` so that many clients
    failing together do not retry together; never shorter than the server's ``retry_after``.
    """
    if attempt < 0:
        raise ValueError("attempt must be >= 0")
    ceiling = min(cap, base * (2 ** min(attempt, 62)))
    delay = (rng or random).uniform(0.0, ceiling)
    return max(delay, retry_after or 0.0)


def retry_after_seconds(header: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds (the delay form), or None when absent
    or not a number."""
    try:
        return max(0.0, float(header)) if header is not None else None
    except ValueError:
        return None
