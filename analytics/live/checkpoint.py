"""The analytics service's state on disk: a checkpoint of the engine, a log of the messages
taken since, and a journal of the events published since.

- ``state.npz``: the engine's arrays (:meth:`Engine.state`), written whole to a temporary
  file, flushed to disk, then renamed over the old one: a crash leaves the old checkpoint
  or the new one, never half of one.
- ``inbox.log``: every message the service took since that checkpoint (topic and payload,
  length-prefixed), appended and flushed to disk *before* the message is acknowledged to
  the broker. The engine is deterministic, so the checkpoint plus this log is the state:
  acknowledging needs one small append, not a checkpoint of every array.
- ``events.journal``: one line per event message published since the checkpoint (``id``
  and phase, open or closed), appended and flushed after the broker took the message.

A checkpoint empties the log and the journal: the state it saves already holds them.
After a crash the service loads the checkpoint and runs the log through the engine again:
the same derived points (written again: idempotent) and the same events, of which the
journal says which were published already, so none is published twice. (An event
published and then lost with the process before its journal line was flushed is
published again, with the same id: consumers deduplicate by id, as the contract asks.) A
record torn by a crash mid-append was never acknowledged: the broker sends it again.
"""

from __future__ import annotations

import contextlib
import os
import struct
from pathlib import Path
from typing import IO, Any

import numpy as np

__all__ = ["StateDir"]

_PHASES = ("open", "closed")
_LEN = struct.Struct(">II")  # topic bytes, payload bytes


class StateDir:
    """A directory holding one analytics service's checkpoint and event journal."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.state_file = self.path / "state.npz"
        self.journal_file = self.path / "events.journal"
        self.inbox_file = self.path / "inbox.log"
        self._inbox = open(self.inbox_file, "ab")  # noqa: SIM115
        self.inbox_bytes = self._inbox.tell()
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
        _empty(self._journal)
        _empty(self._inbox)
        self.inbox_bytes = 0
        return self.state_file.stat().st_size

    def log(self, messages: list[tuple[str, bytes]]) -> None:
        """Append messages to the inbox log, on disk before returning."""
        if not messages:
            return
        out = bytearray()
        for topic, payload in messages:
            t = topic.encode()
            out += _LEN.pack(len(t), len(payload)) + t + payload
        self._inbox.write(out)
        self._inbox.flush()
        os.fsync(self._inbox.fileno())
        self.inbox_bytes += len(out)

    def logged(self) -> list[tuple[str, bytes]]:
        """The messages the inbox log holds, in order; a record torn by a crash is cut
        off the file."""
        data = self.inbox_file.read_bytes()
        out, at = [], 0
        while at + _LEN.size <= len(data):
            nt, np_ = _LEN.unpack_from(data, at)
            end = at + _LEN.size + nt + np_
            if end > len(data):
                break
            t0 = at + _LEN.size
            out.append((data[t0:t0 + nt].decode(), data[t0 + nt:end]))
            at = end
        if at < len(data):
            self._inbox.truncate(at)
            self._inbox.seek(at)
            self.inbox_bytes = at
        return out

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
        self._inbox.close()


def _empty(f: IO[Any]) -> None:
    f.truncate(0)
    f.seek(0)
    f.flush()
    os.fsync(f.fileno())
