"""Ingest comes first: the job pool steps back while webhook requests pile up in this process.

The webhook view marks each request in and out. When `threshold` or more are in flight at once, or
more than `burst_rate` requests a second have been arriving (a burst: under load the count in
flight dips between group commits, and workers starting jobs in every dip starved ingest), the CPU
is the bottleneck, so workers start a new job only once per `trickle` seconds until the burst
ends; jobs already running carry on. A message handled meanwhile costs the ingest side far more
than its own CPU (a longer trickle let ingest go much faster: docs/performance.md). Two requests in
flight is not yet a pile-up (under steady traffic they overlap now and then): `threshold` is four.
With no pile-up, workers start jobs freely. The inbox absorbs the burst and the workers drain it
afterwards.

Requests count themselves under a lock of their own that nothing ever waits on for long; the
worker waiting for its turn is woken by a request only when the load is over (sharing one
condition, every request's leave() woke the waiting worker to find the burst still on, and held up
the requests' own counting).
"""
from __future__ import annotations

import threading
import time


class IngestPressure:
    def __init__(self, threshold: int = 4, trickle: float = 1.0, burst_rate: float = 200.0,
                 window: float = 0.1) -> None:
        self.threshold = threshold
        self.trickle = trickle
        self.window = window
        self._burst_arrivals = max(1, int(burst_rate * window))
        self._window_start = 0.0
        self._arrivals = 0              # in the window that started at _window_start
        self._previous = 0              # in the window before it
        self._count = threading.Lock()         # requests' in_flight and arrivals
        self._cv = threading.Condition(threading.Lock())     # the worker waiting for its turn
        self._turn = threading.Lock()          # one worker at a time waits for the trickle slot
        self._waiting = False                  # a worker waits on _cv
        self.in_flight = 0
        self._next_trickle = 0.0
        self.deferred_starts = 0

    def enter(self) -> None:
        now = time.monotonic()
        with self._count:
            self.in_flight += 1
            if now - self._window_start >= self.window:
                adjacent = now - self._window_start < 2 * self.window
                self._previous = self._arrivals if adjacent else 0
                self._arrivals = 0
                self._window_start = now
            self._arrivals += 1

    def leave(self) -> None:
        with self._count:
            self.in_flight -= 1
        if self._waiting and not self.busy():
            with self._cv:
                self._cv.notify_all()

    def busy(self) -> bool:
        """Requests are piling up, or arriving as a burst (in this window or the one before)."""
        if self.in_flight >= self.threshold:
            return True
        age = time.monotonic() - self._window_start
        if age >= 2 * self.window:
            return False
        recent = self._arrivals if age >= self.window else max(self._arrivals, self._previous)
        return recent >= self._burst_arrivals

    def wait_turn(self) -> None:
        """Return when a worker may start its next job."""
        if not self.busy():
            return
        with self._turn, self._cv:
            waited = False
            self._waiting = True
            while self.busy():
                now = time.monotonic()
                if now >= self._next_trickle:
                    self._next_trickle = now + self.trickle
                    break
                waited = True
                # leave() wakes us when requests drain; a burst ends with no event, so look again
                self._cv.wait(min(self._next_trickle - now, self.window))
            self._waiting = False
            if waited:
                self.deferred_starts += 1
