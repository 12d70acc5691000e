"""A tiny callback list: the model service announces events (provider down/up, tokens used) and
whoever cares connects to them. A receiver that raises is logged and never breaks the caller."""
from __future__ import annotations

import logging
import threading
from typing import Any, Callable

log = logging.getLogger(__name__)


class Signal:
    def __init__(self, name: str) -> None:
        self.name = name
        self._receivers: list[Callable[..., Any]] = []
        self._lock = threading.Lock()

    def connect(self, receiver: Callable[..., Any]) -> Callable[..., Any]:
        with self._lock:
            self._receivers = [*self._receivers, receiver]
        return receiver

    def disconnect(self, receiver: Callable[..., Any]) -> None:
        with self._lock:
            self._receivers = [r for r in self._receivers if r is not receiver]

    def __call__(self, *args: Any) -> None:
        for receiver in self._receivers:
            try:
                receiver(*args)
            except Exception:
                log.exception("a receiver of %r failed", self.name)
