"""The analytics service's state on disk: a checkpoint of the engine and a journal of the
events published since.

- ``state.npz``: the engine's arrays (:meth:`Engine.state`), written whole to a temporary
  file, flushed to disk, then renamed over the old one: a crash leaves the old checkpoint
  or the new one, never half of one.
- ``events.journal``: one line per event message published since that checkpoint
  (``id`` and phase, open or closed), appended and flushed to disk after the broker took
  the message. A checkpoint empties it: the state it saves already knows those events.

After a crash, the broker redelivers every message not acknowledged, which is every one
since the last checkpoint (the service acknowledges only what a checkpoint covers). The
engine, restored from that checkpoint, derives from them the same points (written again:
idempotent) and the same events, and the journal says which of those were already
published, so none is published twice. (An event published and then lost with the process
before its journal line was flushed is published again, with the same id: consumers
deduplicate by id, as the contract asks.)
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path
from typing import Any

import numpy as np

__all__ = ["StateDir"]

_PHASES = ("open", "closed")


class StateDir:
    """A directory holding one analytics service's checkpoint and event journal."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.state_file = self.path / "state.npz"
        self.journal_file = self.path / "events.journal"
        self._journal = open(self.journal_file, "a", encoding="utf-8")  # noqa: SIM115
        if self._journal.tell() and not self.journal_file.read_bytes().endswith(b"\n"):
            self._journal.write("\n")  # end a line torn by a crash: the next is whole

    def load(self) -> dict[str, np.ndarray[Any, Any]] | None:
        """The last checkpoint's arrays, or None if there is none."""
        if not self.state_file.exists():
            return None
        with np.load(self.state_file, allow_pickle=False) as saved:
            return {k: saved[k] for k in saved.files}

    def save(self, state: dict[str, np.ndarray[Any, Any]]) -> int:
        """Write a checkpoint atomically and empty the journal; its size in bytes."""
        tmp = self.state_file.with_suffix(".tmp.npz")
        with open(tmp, "wb") as f:
            np.savez(f, allow_pickle=False, **state)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, self.state_file)
        self._fsync_dir()
        self._journal.truncate(0)
        self._journal.seek(0)
        self._journal.flush()
        os.fsync(self._journal.fileno())
        return self.state_file.stat().st_size

    def published(self) -> set[tuple[str, str]]:
        """(id, phase) of every event the journal holds: published since the checkpoint."""
        out = set()
        with open(self.journal_file, encoding="utf-8") as f:
            for line in f:
                parts = line.split()
                # a line torn by a crash mid-write is not an entry
                if line.endswith("\n") and len(parts) == 2 and parts[1] in _PHASES:
                    out.add((parts[0], parts[1]))
        return out

    def journal(self, entries: list[tuple[str, str]]) -> None:
        """Record events the broker took, on disk before returning."""
        if entries:
            self._journal.write("".join(f"{i} {phase}\n" for i, phase in entries))
            self._journal.flush()
            os.fsync(self._journal.fileno())

    def _fsync_dir(self) -> None:
        with contextlib.suppress(OSError):  # not every file system lets a directory sync
            fd = os.open(self.path, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)

    def close(self) -> None:
        self._journal.close()
