"""``workers: N``: one settings file, N ingester processes in one shared group.

An ingester decodes in one Python process, so on one core. With ``workers`` above 1,
``cityhub ingest`` starts that many worker processes (``cityhub ingest --worker K``), each
an ordinary ingester and a member of ``shared_group`` (settings of worker K:
:meth:`~ingest.settings.IngestSettings.for_worker`), and supervises them:

- a worker that exits is started again: at once after a minute or more of work, else
  after a backoff (jittered, up to 0.5 s doubling to 30 s); nothing is lost meanwhile,
  since its unacknowledged messages wait in its persistent session;
- a worker that exits with status 2 (a configuration error, which a restart would only
  repeat) stops them all, and the supervisor exits 2;
- SIGTERM or SIGINT stops every worker (SIGTERM, then SIGKILL after ``grace_s``) and the
  supervisor exits 0;
- should the supervisor itself die (SIGKILL, the OOM killer), Linux sends its workers
  SIGTERM (:func:`follow_supervisor`), so none is left holding its session.

The supervisor itself holds no MQTT connection and no data. One TaskGroup: one task per
worker, and the wait for a stop signal.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
from collections.abc import Sequence

from cityhub.backoff import backoff_delay
from cityhub.signals import die_with_parent, on_stop_signals

__all__ = ["Supervisor", "follow_supervisor", "worker_command"]

log = logging.getLogger("cityhub.ingest")
STEADY_S = 60.0  # a worker up this long is healthy again: its backoff starts over
CONFIG_ERROR = 2  # the exit status of a configuration error (cityhub.cli)
SUPERVISOR_ENV = "CITYHUB_INGEST_SUPERVISOR"  # the supervisor's pid, in its workers


class Supervisor:
    """Runs ``workers`` copies of ``[*command, "--worker", K]`` until stopped."""

    def __init__(self, command: Sequence[str], workers: int, *, grace_s: float = 10.0,
                 backoff_base_s: float = 0.5, backoff_cap_s: float = 30.0) -> None:
        self.command = list(command)
        self.workers = workers
        self.grace_s = grace_s
        self.backoff_base_s = backoff_base_s
        self.backoff_cap_s = backoff_cap_s
        self.procs: dict[int, asyncio.subprocess.Process] = {}
        self.starts = [0] * workers  # times each worker was started
        self.status = 0  # the supervisor's exit status
        self._stop = asyncio.Event()

    def stop(self) -> None:
        self._stop.set()

    async def run(self) -> int:
        """Start the workers, keep them running, stop them all on SIGTERM/SIGINT (or
        :meth:`stop`, or a worker's configuration error); the exit status."""
        with on_stop_signals(lambda _sig: self.stop()):
            async with asyncio.TaskGroup() as tg:
                for k in range(self.workers):
                    tg.create_task(self._keep(k))
                await self._stop.wait()
                log.info("ingest: stopping %d workers", self.workers)
        return self.status

    async def _keep(self, k: int) -> None:
        """Worker k: start it, wait for it, start it again (after a backoff) until the
        supervisor stops; then stop it (also when this task is cancelled)."""
        loop = asyncio.get_running_loop()
        env = {**os.environ, SUPERVISOR_ENV: str(os.getpid())}
        failures = 0
        while not self._stop.is_set():
            proc = await asyncio.create_subprocess_exec(
                *self.command, "--worker", str(k), stdin=asyncio.subprocess.DEVNULL, env=env)
            self.procs[k] = proc
            self.starts[k] += 1
            started = loop.time()
            log.info("ingest: worker %d started (pid %d)", k, proc.pid)
            try:
                stopping = asyncio.ensure_future(self._stop.wait())
                try:
                    await asyncio.wait({stopping, asyncio.ensure_future(proc.wait())},
                                       return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopping.cancel()
            finally:
                if proc.returncode is None:  # stopping, or this task was cancelled
                    await asyncio.shield(self._terminate(k, proc))
            if self._stop.is_set():
                return
            if proc.returncode == CONFIG_ERROR:
                log.error("ingest: worker %d (pid %d) exited with status %d, a configuration "
                          "error; stopping every worker", k, proc.pid, CONFIG_ERROR)
                self.status = CONFIG_ERROR
                self.stop()
                return
            failures = 0 if loop.time() - started >= STEADY_S else failures + 1
            delay = backoff_delay(max(0, failures - 1), base=self.backoff_base_s,
                                  cap=self.backoff_cap_s) if failures else 0.0
            log.error("ingest: worker %d (pid %d) exited with status %s; starting it again "
                      "in %.1f s", k, proc.pid, proc.returncode, delay)
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(delay):
                    await self._stop.wait()

    async def _terminate(self, k: int, proc: asyncio.subprocess.Process) -> None:
        if proc.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                proc.terminate()
            try:
                async with asyncio.timeout(self.grace_s):
                    await proc.wait()
            except TimeoutError:
                log.warning("ingest: worker %d (pid %d) did not stop in %.0f s; killing it",
                            k, proc.pid, self.grace_s)
                with contextlib.suppress(ProcessLookupError):
                    proc.kill()
                await proc.wait()
        log.info("ingest: worker %d stopped", k)


def follow_supervisor() -> None:
    """In a worker started by a :class:`Supervisor`: ask Linux for SIGTERM should the
    supervisor die, and exit at once if it already has. Does nothing elsewhere (a worker
    started by systemd, say)."""
    supervisor = os.environ.get(SUPERVISOR_ENV)
    if supervisor is None or not sys.platform.startswith("linux"):
        return
    die_with_parent(signal.SIGTERM)
    if str(os.getppid()) != supervisor:  # it died before the request took hold
        sys.exit(f"cityhub ingest: the supervisor (pid {supervisor}) is gone")


def worker_command(config: str, log_level: str, log_format: str) -> list[str]:
    """The command line of a worker of ``config`` (without ``--worker K``)."""
    return [sys.executable, "-m", "cityhub", "--log-level", log_level, "--log-format",
            log_format, "ingest", "--config", config]
