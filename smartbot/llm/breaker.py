"""Circuit breakers, one per provider: stop sending work to a provider that keeps failing.

closed ──N failures within `window` seconds──> open ──`cooldown` passes──> half-open
half-open: exactly one call (a user's or a health check's) is let through as the probe;
           it succeeding closes the circuit, it failing opens it again for another cooldown.
A success while closed clears the failure count, so N means N failures with no success between.
State lives in this process's memory only; it must never block a thread (no I/O under its lock).
"""
from __future__ import annotations

import collections
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable

from .signals import Signal

log = logging.getLogger(__name__)

CLOSED, OPEN, HALF_OPEN = "closed", "open", "half_open"


@dataclass(frozen=True)
class BreakerPolicy:
    failures: int = 5
    window: float = 60.0
    cooldown: float = 30.0


@dataclass(frozen=True)
class BreakerState:
    state: str
    failures: int
    last_reason: str
    changed_at: float


class CircuitBreaker:
    def __init__(self, name: str, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._state = CLOSED
        self._failures: collections.deque[float] = collections.deque()
        self._opened_at = 0.0
        self._probe_at = 0.0
        self._changed_at = clock()
        self._last_reason = ""

    @property
    def state(self) -> str:
        return self._state

    def snapshot(self) -> BreakerState:
        with self._lock:
            return BreakerState(self._state, len(self._failures), self._last_reason, self._changed_at)

    def allow(self) -> bool:
        """May a call go to this provider now? In half-open, True for the one probe only (a probe
        that never reported back is replaced after another cooldown)."""
        if self._state == CLOSED:
            return True
        now = self._clock()
        with self._lock:
            if self._state == CLOSED:
                return True
            since = now - (self._opened_at if self._state == OPEN else self._probe_at)
            if since < self.policy.cooldown:
                return False
            self._state, self._probe_at = HALF_OPEN, now
            return True

    def record_success(self) -> bool:
        """True when this success closed the circuit."""
        if self._state == CLOSED and not self._failures:
            return False
        with self._lock:
            self._failures.clear()
            if self._state == CLOSED:
                return False
            self._state, self._changed_at = CLOSED, self._clock()
            return True

    def record_failure(self, reason: str) -> bool:
        """True when this failure opened the circuit."""
        now = self._clock()
        with self._lock:
            self._last_reason = reason
            if self._state == HALF_OPEN:
                self._state, self._opened_at, self._changed_at = OPEN, now, now
                return False        # already counted as down; the probe just failed again
            if self._state == OPEN:
                return False
            self._failures.append(now)
            while self._failures and now - self._failures[0] > self.policy.window:
                self._failures.popleft()
            if len(self._failures) < self.policy.failures:
                return False
            self._failures.clear()
            self._state, self._opened_at, self._changed_at = OPEN, now, now
            return True


class BreakerBoard:
    """The breakers of every provider this process calls, and the signals their changes fire:
    `on_down(name, reason)` when a circuit opens, `on_up(name)` when it closes again."""

    def __init__(self, policy: BreakerPolicy, clock: Callable[[], float] = time.monotonic) -> None:
        self.policy = policy
        self._clock = clock
        self._lock = threading.Lock()
        self._breakers: dict[str, CircuitBreaker] = {}
        self.on_down = Signal("provider down")
        self.on_up = Signal("provider up")

    def get(self, name: str) -> CircuitBreaker:
        breaker = self._breakers.get(name)
        if breaker is None:
            with self._lock:
                breaker = self._breakers.setdefault(name, CircuitBreaker(name, self.policy, self._clock))
        return breaker

    def success(self, name: str) -> None:
        if self.get(name).record_success():
            log.warning("provider %s is answering again; its circuit is closed", name)
            self.on_up(name)

    def failure(self, name: str, reason: str) -> None:
        if self.get(name).record_failure(reason):
            log.error("provider %s failed %d times within %.0fs (%s); its circuit is open for %.0fs",
                      name, self.policy.failures, self.policy.window, reason, self.policy.cooldown)
            self.on_down(name, reason)

    def states(self) -> dict[str, BreakerState]:
        with self._lock:
            breakers = list(self._breakers.values())
        return {b.name: b.snapshot() for b in breakers}
