"""One SQLite writer at a time, across the threads of a process and the processes of a server.

SQLite's own busy handler sleeps in growing steps while another connection holds the write lock
and so misses most of the moments it is free; queueing here instead lets the kernel hand the lock
to the next writer at once. `Database.write` holds it for each write transaction.
"""
from __future__ import annotations

import os
import threading


class WriterLock:
    """One SQLite writer at a time: a thread lock within the process, flock(2) across processes.

    The kernel wakes the next waiter the moment the lock is free. The lock file is opened per
    process (after a fork the child opens its own), since flock belongs to the open file.
    """

    def __init__(self, db_path: str | None) -> None:
        self._path = (db_path + ".write.lock") if db_path else None
        self._thread_lock = threading.Lock()
        self._fd: int | None = None
        self._pid = 0

    def reopen(self) -> None:
        self._thread_lock = threading.Lock()
        self._fd = None

    def _file(self) -> int | None:
        if self._path is None:
            return None
        if self._fd is None or self._pid != os.getpid():
            self._fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
            self._pid = os.getpid()
        return self._fd

    def __enter__(self) -> None:
        import fcntl

        self._thread_lock.acquire()
        try:
            fd = self._file()
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_EX)
        except BaseException:
            self._thread_lock.release()
            raise

    def __exit__(self, *exc: object) -> None:
        import fcntl

        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
        finally:
            self._thread_lock.release()
