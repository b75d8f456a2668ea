"""Stopping a long-running command: SIGTERM is handled like SIGINT (Ctrl-C).

systemd and Docker stop a service with SIGTERM. Every command that runs until stopped
(``cityhub demo``, ``ingest``, ``edge run``, ``dashboard``, and the services still to come)
runs its work under :func:`run_until_stopped` (async) or :func:`wait_until_stopped`
(a thread that only waits), so the first SIGTERM or SIGINT lets it finish or hand back
what is in flight, stop its children, remove what it created, and exit 0.
"""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import signal
import sys
import threading
from collections.abc import Callable, Coroutine, Iterator
from typing import Any, TypeVar

__all__ = ["STOP_SIGNALS", "die_with_parent", "on_stop_signals", "raise_if_cancelling",
           "run_until_stopped", "wait_until_stopped"]

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)
T = TypeVar("T")


@contextlib.contextmanager
def on_stop_signals(callback: Callable[[signal.Signals], None]) -> Iterator[None]:
    """Call ``callback(signal)`` in the running event loop on each SIGTERM or SIGINT while
    the block runs (instead of Python's KeyboardInterrupt or the default SIGTERM death);
    the handlers from before the block are put back after it."""
    loop = asyncio.get_running_loop()
    before = {sig: signal.getsignal(sig) for sig in STOP_SIGNALS}
    for sig in STOP_SIGNALS:
        loop.add_signal_handler(sig, callback, sig)
    try:
        yield
    finally:
        for sig, handler in before.items():
            loop.remove_signal_handler(sig)  # which sets SIG_DFL (SIGINT: Python's own)
            if handler is not None:
                signal.signal(sig, handler)


async def run_until_stopped(work: Coroutine[Any, Any, T], *, name: str = "cityhub"
                            ) -> T | None:
    """Run ``work``; the first SIGTERM or SIGINT cancels it, so its ``finally`` blocks and
    context managers clean up. Later signals do not cancel that clean-up again (a terminal's
    Ctrl-C reaches a supervisor's workers, which then get its SIGTERM too); SIGKILL is the
    way to cut it short. Returns its result, or None when a signal stopped it."""
    task = asyncio.ensure_future(work)
    stopped: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if stopped:
            print(f"{name}: {sig.name}: already stopping", flush=True)
            return
        print(f"{name}: {sig.name}: stopping", flush=True)
        stopped.append(sig)
        task.cancel()

    with on_stop_signals(stop):
        try:
            return await task
        except asyncio.CancelledError:
            if not stopped:
                raise
            return None


def raise_if_cancelling() -> None:
    """Raise :class:`asyncio.CancelledError` if the running task is being cancelled.

    For a loop that retries after an error: a library may turn a cancellation that came
    while it waited into its own error (Python 3.11's ``asyncio.wait_for`` into
    ``TimeoutError`` when the cancellation meets the timeout; aiomqtt, whose connect
    waits that way, into ``MqttError``). Called where such an error is caught, it keeps
    a stop from being swallowed and the loop from retrying for ever.
    """
    task = asyncio.current_task()
    if task is not None and task.cancelling():
        raise asyncio.CancelledError


def wait_until_stopped() -> signal.Signals:
    """Block the main thread until SIGTERM or SIGINT; return which came. For a process
    whose work runs on other threads (a web server)."""
    came: list[signal.Signals] = []
    done = threading.Event()

    def handler(signum: int, _frame: object) -> None:
        came.append(signal.Signals(signum))
        done.set()

    previous = {sig: signal.signal(sig, handler) for sig in STOP_SIGNALS}
    try:
        while not done.wait(3600):
            pass
    finally:
        for sig, old in previous.items():
            signal.signal(sig, old)
    return came[0]


_PR_SET_PDEATHSIG = 1


def die_with_parent(sig: signal.Signals = signal.SIGTERM) -> bool:
    """Ask Linux to send this process ``sig`` when its parent dies (even by SIGKILL or
    the OOM killer), so a child a service started is never left running on its own.
    Call it in the child (e.g. as ``preexec_fn``). False where it is not available."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(_PR_SET_PDEATHSIG, int(sig), 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False
