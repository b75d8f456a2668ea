"""numba's ``njit`` as the kernels use it: compiled on first call, cached on disk
(``cache=True``: a later process loads the machine code instead of compiling again), the
GIL released, and typed for mypy (numba's decorator is untyped).

``NUMBA_DISABLE_JIT=1`` turns every kernel back into plain Python: the suite runs that way
too, for coverage and to check that the kernels mean what the Python says.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar, cast

import numba

__all__ = ["kernel"]

F = TypeVar("F", bound=Callable[..., Any])


def kernel(f: F) -> F:
    """Compile ``f`` with numba (nopython mode, on-disk cache, no GIL)."""
    return cast(F, numba.njit(cache=True, nogil=True)(f))
