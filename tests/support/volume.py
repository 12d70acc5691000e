"""Filling a small test volume to the last byte (for the disk-full tests)."""
from __future__ import annotations

import errno
from pathlib import Path


def fill(path: Path) -> None:
    """Write zeros to `path` until the volume is full (unbuffered, so nothing is left to flush)."""
    with open(path, "wb", buffering=0) as fh:
        try:
            while True:
                fh.write(b"\0" * 65536)
        except OSError as exc:
            assert exc.errno == errno.ENOSPC, exc
