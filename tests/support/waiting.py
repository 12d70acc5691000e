"""Waiting for something that happens in another process or thread, with a deadline."""
from __future__ import annotations

import time
from typing import Callable


def wait_until(predicate: Callable[[], object], timeout: float, every: float = 0.05) -> bool:
    """True as soon as `predicate()` is true; its last answer when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())
