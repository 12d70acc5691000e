"""One background thread per process for operations: every `[alerts] check_seconds` it writes this
process's CPU, memory and worker-thread use into the metrics, then runs the monitors when this
process holds the server's monitor lock (one process per server does; see server_lock).

It never blocks the message path: it only reads, except when an alert changes state.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from . import host
from ..telemetry import metrics
from .monitors import Monitors
from .server_lock import ServerLock

log = logging.getLogger(__name__)


class OpsAgent:
    def __init__(self, monitors: Monitors, worker_stats: Callable[[], dict[str, int]], every: float,
                 lock: ServerLock | None = None) -> None:
        self.monitors = monitors
        self.lock = lock
        self._worker_stats = worker_stats
        self.every = every
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._cpu_seen = host.process_cpu_seconds()
        self._sample_lock = threading.Lock()

    def start(self) -> None:
        """(Re)start the thread; after a fork the parent's thread does not exist in the child."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._stop = threading.Event()
        self._cpu_seen = host.process_cpu_seconds()
        self._thread = threading.Thread(target=self._run, name="smartbot-ops", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout)
        if self.lock is not None:
            self.lock.release()     # another worker takes over the monitors at its next check

    def sample(self) -> None:
        """This process's resource use, as metrics (also done just before a scrape)."""
        with self._sample_lock:
            cpu = host.process_cpu_seconds()
            if cpu > self._cpu_seen:
                metrics.count("process_cpu_seconds_total", cpu - self._cpu_seen)
                self._cpu_seen = cpu
        rss = host.process_rss_bytes()
        if rss is not None:
            metrics.gauge("process_resident_memory_bytes", rss)
        stats = self._worker_stats()
        metrics.gauge("worker_threads", stats.get("threads", 0), mode="livesum")
        metrics.gauge("worker_threads_busy", stats.get("busy", 0), mode="livesum")
        metrics.gauge("worker_threads_max", stats.get("max_threads", 0), mode="livesum")

    def _run(self) -> None:
        while not self._stop.is_set():
            started = time.monotonic()
            try:
                self.sample()
                if self.lock is None or self.lock.held():
                    self.monitors.check()
            except Exception:
                log.exception("operations check failed; will try again")
            self._stop.wait(max(0.05, self.every - (time.monotonic() - started)))
