"""Ingest comes first: the job pool steps back while webhook requests pile up in this process.

The webhook view marks each request in and out. When `threshold` or more are in flight at once the
CPU is the bottleneck, so workers start a new job only once per `trickle` seconds until the
requests drain; jobs already running carry on. With no pile-up, workers start jobs freely. The
inbox absorbs the burst and the workers drain it afterwards.
"""
from __future__ import annotations

import threading
import time


class IngestPressure:
    def __init__(self, threshold: int = 2, trickle: float = 0.1) -> None:
        self.threshold = threshold
        self.trickle = trickle
        self._cv = threading.Condition(threading.Lock())
        self._turn = threading.Lock()          # one worker at a time waits for the trickle slot
        self.in_flight = 0
        self._next_trickle = 0.0
        self.deferred_starts = 0

    def enter(self) -> None:
        with self._cv:
            self.in_flight += 1

    def leave(self) -> None:
        with self._cv:
            self.in_flight -= 1
            if self.in_flight < self.threshold:
                self._cv.notify_all()

    def wait_turn(self) -> None:
        """Return when a worker may start its next job."""
        if self.in_flight < self.threshold:
            return
        with self._turn, self._cv:
            waited = False
            while self.in_flight >= self.threshold:
                now = time.monotonic()
                if now >= self._next_trickle:
                    self._next_trickle = now + self.trickle
                    break
                waited = True
                self._cv.wait(self._next_trickle - now)
            if waited:
                self.deferred_starts += 1
