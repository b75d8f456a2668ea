"""The kernels as plain Python (``NUMBA_DISABLE_JIT=1``): the same tests pass, so what
numba compiles means what the Python says (and coverage sees the kernels' lines)."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def test_kernels_pass_with_the_jit_off() -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly",
         "-o", "addopts=", str(HERE / "test_kernels.py")],
        capture_output=True, text=True, timeout=600, cwd=HERE.parents[1],
        env={**os.environ, "NUMBA_DISABLE_JIT": "1"})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert " passed" in proc.stdout and " failed" not in proc.stdout
