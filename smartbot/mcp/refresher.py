"""The timer that lists the tools of connected MCP servers again: once a server's list is older
than its refresh_seconds, or soon after it said its tools changed, without waiting for a chat to
need it (a chat then never pays for the listing). It only refreshes servers that are connected:
it never starts an idle stdio server nor dials a server nobody uses. One daemon thread per
process, started when a registry is first used in that process (a forked worker starts its own).
"""
from __future__ import annotations

import logging
import os
import threading
from typing import Any, Callable, Iterable

log = logging.getLogger(__name__)
TICK_SECONDS = 1.0


class Refresher:
    def __init__(self, handles: Callable[[], Iterable[Any]], tick: float = TICK_SECONDS) -> None:
        self._handles = handles
        self._tick = tick
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stop = threading.Event()

    def ensure_running(self) -> None:
        if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
            return
        with self._lock:
            if self._thread is not None and self._pid == os.getpid() and self._thread.is_alive():
                return
            self._stop = threading.Event()
            self._pid = os.getpid()
            self._thread = threading.Thread(target=self._run, args=(self._stop,), name="mcp-refresher", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        thread = self._thread
        if thread is not None and thread is not threading.current_thread() and self._pid == os.getpid():
            thread.join(timeout=5)
        self._thread = None

    def _run(self, stop: threading.Event) -> None:
        while not stop.wait(self._tick):
            for handle in list(self._handles()):
                if stop.is_set():
                    return
                try:
                    handle.refresh_if_due()
                except Exception:           # one server's trouble never stops the timer for the others
                    log.exception("refreshing the tools of MCP server %s failed", handle.config.name)
