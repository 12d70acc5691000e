"""Periodic provider health checks: one small daemon thread per process.

Every `interval` seconds it probes each enabled provider (a GET that spends no tokens) through
`ModelService.check_health`, so a dead provider's circuit opens before users wait on it and a
recovered one closes without waiting for a user. It never calls a model and never raises.
"""
from __future__ import annotations

import logging
import threading
from typing import Callable, Sequence

from .base import ProviderSpec
from .service import ModelService

log = logging.getLogger(__name__)


class HealthMonitor:
    def __init__(self, service: ModelService, providers: Callable[[], Sequence[ProviderSpec]],
                 interval: float) -> None:
        self._service = service
        self._providers = providers
        self.interval = interval
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self.interval <= 0 or (self._thread is not None and self._thread.is_alive()):
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._run, name="smartbot-model-health", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 2.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)

    def check_now(self) -> dict[str, str]:
        """Probe every provider once; returns each one's circuit state afterwards."""
        states = {}
        for spec in self._providers():
            if self._stop.is_set():
                break
            states[spec.name] = self._service.check_health(spec)
        return states

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check_now()
            except Exception:  # a bug here must not end the checks for the life of the process
                log.exception("provider health check failed; trying again in %.0fs", self.interval)
