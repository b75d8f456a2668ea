"""The broker's password file, hashed by the real ``mosquitto_passwd``.

Mosquitto's own tool makes the hashes, so the file is in whatever format the installed
broker reads (2.0: PBKDF2-SHA512, ``$7$``). Each password reaches it on its standard input
(the interactive mode's two prompts, answered from a pipe), never on its command line,
where any local user could read it in ``ps``, and never in a plaintext file (``-U`` would
hash one in place, after it had sat on disk). The file is built in a private directory
(0700) next to its destination, made 0600 and renamed into place, so a reader sees the
old file or the whole new one.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Iterable, Sequence
from pathlib import Path

from cityhub.errors import ConfigError, ConfigProblem

__all__ = ["mosquitto_passwd", "write_passwd"]


def mosquitto_passwd() -> str:
    """The path of ``mosquitto_passwd``, or a :class:`ConfigError` saying how to get it."""
    exe = shutil.which("mosquitto_passwd")
    if exe is None and Path("/usr/bin/mosquitto_passwd").exists():
        exe = "/usr/bin/mosquitto_passwd"
    if exe is None:
        raise ConfigError([ConfigProblem("mosquitto_passwd", "", "not found: install "
                                         "Mosquitto (apt-get install mosquitto), whose tool "
                                         "hashes the broker's passwords")])
    return exe


def _add(exe: str, path: Path, username: str, password: str) -> None:
    # The file exists (even empty), so no -c: -c would truncate it.
    r = subprocess.run([exe, str(path), username], input=f"{password}\n{password}\n",
                       capture_output=True, text=True, check=False, timeout=60)
    if r.returncode != 0:
        # stdout holds only the prompts; stderr the reason. Neither holds the password.
        raise ConfigError([ConfigProblem("mosquitto_passwd", username,
                                         f"failed ({r.returncode}): {r.stderr.strip()}")])


def write_passwd(path: Path, accounts: Sequence[tuple[str, str]],
                 kept: Iterable[str] = (), *, exe: str | None = None) -> None:
    """Write ``path``: the hashes of ``accounts`` (username, password), after the
    ``username:hash`` lines of ``kept`` copied as they are; mode 0600."""
    exe = exe or mosquitto_passwd()
    path.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".passwd-", dir=path.parent))  # 0700
    try:
        tmp = work / "passwd"
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.writelines(f"{line}\n" for line in kept)
        for username, password in accounts:
            _add(exe, tmp, username, password)
        tmp.chmod(0o600)
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(work)
