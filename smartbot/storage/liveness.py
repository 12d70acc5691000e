"""Owner ids for leases, and telling whether the owner of a lease on this host is still alive.

An owner id is `host:pid:start`, where `start` is the process's start time from /proc (so a reused
pid is not mistaken for the dead owner). A lease whose owner is on this host and dead can be taken
over at once; leases of other hosts wait for their expiry.
"""
from __future__ import annotations

import os
import socket
import uuid

_HOST = socket.gethostname().replace(":", "_")[:60]


def _start_time(pid: int) -> str | None:
    try:
        with open(f"/proc/{pid}/stat", "rb") as fh:
            data = fh.read().decode("ascii", "replace")
    except OSError:
        return None
    fields = data.rsplit(")", 1)[-1].split()
    if len(fields) < 20:
        return None
    if fields[0] == "Z":          # a zombie has exited; only its parent has not reaped it yet
        return "zombie"
    return fields[19]


def owner_id() -> str:
    pid = os.getpid()
    return f"{_HOST}:{pid}:{_start_time(pid) or uuid.uuid4().hex[:12]}"


def owner_is_dead(owner: str) -> bool:
    """True only when the owner certainly is gone: same host, and its process no longer exists."""
    try:
        host, pid_text, start = owner.rsplit(":", 2)
        pid = int(pid_text)
    except ValueError:
        return False
    if host != _HOST:
        return False
    if pid == os.getpid():
        return owner != owner_id()
    current = _start_time(pid)
    if current is None:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        except PermissionError:
            return False
        return False
    return current == "zombie" or current != start
