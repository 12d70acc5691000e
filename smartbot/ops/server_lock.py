"""One process per server runs the server's monitors; the other workers stand by.

The monitors (queue age, error rate, provider probes, host CPU, memory and disk, silent channels)
read what all workers share: the database, the machine. Run by every gunicorn worker they did the
same queries and probes once per worker, and running that code cost every worker idle memory of
its own (master pages it copied by touching them). The process holding an exclusive flock(2)
on a lock file runs them; when it exits or dies the kernel releases the lock, and another worker
takes it at its next check.

Monitoring must never stop because of the lock itself: when the lock file cannot be opened (a
read-only folder, say), every process checks, as before, and alerts stay one per cluster through the
alert state in the database.
"""
from __future__ import annotations

import hashlib
import logging
import os
import tempfile

from ..storage.db import sqlite_file

log = logging.getLogger(__name__)


def lock_path(database_url: str, purpose: str = "monitors") -> str:
    """Beside a SQLite file (one server per file); else in the temporary folder, per database.
    `purpose` names what the lock decides: the monitors, or a channel's connection (`connect-<name>`)."""
    path = sqlite_file(database_url)
    if path:
        return f"{path}.{purpose}.lock"
    digest = hashlib.sha256(database_url.encode()).hexdigest()[:16]
    return os.path.join(tempfile.gettempdir(), f"smartbot-{purpose}-{digest}.lock")


class ServerLock:
    def __init__(self, path: str) -> None:
        self.path = path
        self._fd: int | None = None
        self._pid = 0
        self._warned = False

    def held(self) -> bool:
        """True when this process holds the lock (taking it if it is free) or cannot use it at all."""
        if self._fd is not None and self._pid == os.getpid():
            return True
        self._forget_inherited()
        import fcntl

        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as exc:
            if not self._warned:
                self._warned = True
                log.warning("cannot open %s (%s); this process runs the monitors too", self.path, exc.strerror)
            return True
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        self._fd, self._pid = fd, os.getpid()
        return True

    def release(self) -> None:
        if self._fd is not None and self._pid == os.getpid():
            os.close(self._fd)      # closing the last descriptor of this open file drops the flock
            self._fd = None
        self._forget_inherited()

    def _forget_inherited(self) -> None:
        """A forked child shares its parent's lock without holding one of its own; its copy of the
        descriptor would keep the parent's lock alive after the parent released it, so close it."""
        if self._fd is not None and self._pid != os.getpid():
            os.close(self._fd)
        self._fd = None
