"""Process statistics (psutil) and stopping a child process, for tests and benchmarks."""

from __future__ import annotations

import subprocess
from pathlib import Path

import psutil

__all__ = ["child_pids", "cpu_seconds", "rss_mb", "stop_process"]


def child_pids(pid: int) -> set[int]:
    """Pids of the live (not zombie) child processes of ``pid``."""
    out = set()
    for child in psutil.Process(pid).children():
        try:
            if child.status() != psutil.STATUS_ZOMBIE:
                out.add(child.pid)
        except psutil.NoSuchProcess:
            continue
    return out


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far."""
    t = psutil.Process(pid).cpu_times()
    return float(t.user + t.system)


def rss_mb(pid: int, *, peak: bool = False) -> float:
    """Resident memory of a process, in MB; with ``peak``, the highest it has been.

    psutil has no peak resident size on Linux, so that one is Linux's ``VmHWM`` from
    ``/proc/<pid>/status``.
    """
    if not peak:
        return float(psutil.Process(pid).memory_info().rss) / (1024 * 1024)
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no peak resident size for process {pid}")


def stop_process(proc: subprocess.Popen[bytes], *, kill: bool = False,
                 timeout_s: float = 10.0) -> None:
    """SIGTERM (or SIGKILL with ``kill``) and wait; SIGKILL if it outlives ``timeout_s``."""
    if proc.poll() is None:
        proc.kill() if kill else proc.terminate()
        try:
            proc.wait(timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout_s)
