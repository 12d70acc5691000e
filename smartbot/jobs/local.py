"""The embedded job backend: a thread pool inside each app process, fed straight from the webhook.

A message accepted by this process is leased to it in the same INSERT transaction and handed to
the pool in memory, so work starts at once with no polling. Each job kind is served by the object
that does the work (`serve`); the runner knows nothing of messages. A maintenance thread fires
delayed retries and runs the three upkeep steps (`Upkeep`) on their schedule. Threads are started
lazily up to `[jobs] threads`; model calls spend their time waiting on the network, not on the CPU.
"""
from __future__ import annotations

import collections
import heapq
import itertools
import logging
import threading
import time
from dataclasses import dataclass
from typing import Callable, Mapping, Sequence

from .pressure import IngestPressure

log = logging.getLogger(__name__)

Job = tuple[str, int]           # (kind, row id)
MAX_RETRY_DELAY = 60.0          # seconds between tries of a job that keeps failing
PURGE_SECONDS = 3600.0          # between purges (the first one a minute after start)
Step = Callable[[], object]
Dispatch = Callable[[str, list[int], float], None]   # how work hands follow-ups back: kind, row ids, delay


@dataclass(frozen=True)
class Upkeep:
    """The runner's three upkeep steps, each a list of calls made in order; one that raises is
    logged and does not keep the others from running."""

    recover: Sequence[Step] = ()    # at start, then every sweep: take over work whose owner died or
    #                                 whose lease ran out, and queued work that is due
    renew: Sequence[Step] = ()      # while this process holds work: extend its leases
    purge: Sequence[Step] = ()      # hourly: drop finished rows past their keeping time


class LocalRunner:
    def __init__(self, max_threads: int, max_backlog: int, sweep_seconds: float, lease_seconds: float,
                 pressure: IngestPressure | None = None, idle_seconds: float = 60.0) -> None:
        self._handlers: Mapping[str, Callable[[int], None]] = {}
        self._upkeep = Upkeep()
        self.pressure = pressure or IngestPressure()
        self._max_threads = max_threads
        self._max_backlog = max_backlog
        self._sweep_seconds = sweep_seconds
        self._renew_seconds = max(0.5, lease_seconds / 3)
        self._idle_seconds = idle_seconds
        self._cv = threading.Condition()
        self._queue: collections.deque[Job] = collections.deque()
        self._timers: list[tuple[float, int, Job]] = []
        self._timer_cv = threading.Condition()
        self._seq = itertools.count()
        self._threads = 0
        self._idle = 0
        self._busy = 0
        self._stopping = False
        self._maintenance: threading.Thread | None = None
        self._failures: dict[Job, int] = {}      # jobs that raised, and how many times in a row

    def serve(self, handlers: Mapping[str, Callable[[int], None]], upkeep: Upkeep) -> None:
        """Who works each job kind (called with the row id), and the upkeep steps; set before
        `start`, once the objects doing the work exist (they hand follow-ups back to `dispatch`)."""
        self._handlers = dict(handlers)
        self._upkeep = upkeep

    # -- feeding ------------------------------------------------------------------------------
    def submit(self, kind: str, row_id: int) -> None:
        with self._cv:
            self._queue.append((kind, row_id))
            if self._idle == 0 and self._threads < self._max_threads and not self._stopping:
                self._spawn()
            self._cv.notify()

    def offer(self, kind: str, row_id: int) -> None:
        """Take a row whose table says it is ready (a broker's wake-up), unless the backlog is
        full: then it waits in its table for whichever worker's sweep is free first."""
        if self.has_room():
            self.submit(kind, row_id)

    def dispatch(self, kind: str, ids: list[int], delay: float = 0.0) -> None:
        if delay <= 0:
            for row_id in ids:
                self.submit(kind, row_id)
            return
        due = time.monotonic() + delay
        with self._timer_cv:
            for row_id in ids:
                heapq.heappush(self._timers, (due, next(self._seq), (kind, row_id)))
            self._timer_cv.notify()

    # -- lifecycle ----------------------------------------------------------------------------
    def start(self) -> None:
        self._maintenance = threading.Thread(target=self._maintain, name="smartbot-upkeep", daemon=True)
        self._maintenance.start()

    def stop(self, timeout: float = 10.0) -> list[Job]:
        """Stop taking work, let running jobs finish (up to `timeout`), and return every job that
        never started, including follow-ups the running jobs handed back meanwhile."""
        with self._cv:
            self._stopping = True
            self._cv.notify_all()
        with self._timer_cv:
            timed = [job for _, _, job in self._timers]
            self._timers.clear()
            self._timer_cv.notify_all()
        deadline = time.monotonic() + timeout
        with self._cv:
            while self._busy and time.monotonic() < deadline:
                self._cv.wait(0.05)
            unstarted = list(self._queue) + timed
            self._queue.clear()
        return unstarted

    def stats(self) -> dict[str, int]:
        with self._cv:
            return {"threads": self._threads, "busy": self._busy, "queued": len(self._queue),
                    "timers": len(self._timers), "max_threads": self._max_threads,
                    "deferred_starts": self.pressure.deferred_starts}

    def backlog(self) -> int:
        return len(self._queue)

    def has_room(self) -> bool:
        """Whether the in-memory backlog is below `[jobs] max_backlog`."""
        return len(self._queue) < self._max_backlog

    def alive(self) -> bool:
        return self._maintenance is not None and self._maintenance.is_alive()

    def has_work(self) -> bool:
        with self._cv:
            return bool(self._busy or self._queue or self._timers)

    # -- threads ------------------------------------------------------------------------------
    def _spawn(self) -> None:
        self._threads += 1
        threading.Thread(target=self._work, name=f"smartbot-worker-{self._threads}", daemon=True).start()

    def _work(self) -> None:
        while True:
            self.pressure.wait_turn()
            with self._cv:
                while not self._queue or self._stopping:
                    if self._stopping:
                        self._threads -= 1
                        return
                    self._idle += 1
                    woke = self._cv.wait(self._idle_seconds)
                    self._idle -= 1
                    if not woke and not self._queue and self._threads > 1:
                        self._threads -= 1
                        return
                kind, row_id = self._queue.popleft()
                self._busy += 1
            try:
                self._handlers[kind](row_id)
                self._succeeded((kind, row_id))
            except Exception:
                self._failed((kind, row_id))
            finally:
                with self._cv:
                    self._busy -= 1
                    if self._stopping:
                        self._cv.notify_all()

    def _succeeded(self, job: Job) -> None:
        if self._failures:
            with self._cv:
                self._failures.pop(job, None)

    def _failed(self, job: Job) -> None:
        """Try a job that raised (the database full or unreachable, a bug) again later, backing off.
        Its row keeps its lease, which this process renews while it lives, so no other worker and
        no lease expiry would ever bring it back."""
        with self._cv:
            failures = self._failures[job] = self._failures.get(job, 0) + 1
        delay = min(MAX_RETRY_DELAY, 2.0 ** (failures - 1))
        log.exception("job %s %s failed (%d in a row); trying again in %.0f s", job[0], job[1], failures, delay)
        self.dispatch(job[0], [job[1]], delay)

    def _maintain(self) -> None:
        self._run_step("recover", self._upkeep.recover)
        now = time.monotonic()
        next_sweep, next_renew, next_purge = now + self._sweep_seconds, now + self._renew_seconds, now + 60
        while True:
            with self._timer_cv:
                if self._stopping:
                    return
                now = time.monotonic()
                wake = min(next_sweep, next_renew, self._timers[0][0] if self._timers else next_sweep)
                if wake > now:
                    self._timer_cv.wait(wake - now)
                if self._stopping:
                    return
                now = time.monotonic()
                due = []
                while self._timers and self._timers[0][0] <= now:
                    due.append(heapq.heappop(self._timers)[2])
            for kind, row_id in due:
                self.submit(kind, row_id)
            if now >= next_renew:
                next_renew = now + self._renew_seconds
                if self.has_work():
                    self._run_step("renew", self._upkeep.renew)
            if now >= next_sweep:
                next_sweep = now + self._sweep_seconds
                self._run_step("recover", self._upkeep.recover)
            if now >= next_purge:
                next_purge = now + PURGE_SECONDS
                self._run_step("purge", self._upkeep.purge)

    @staticmethod
    def _run_step(name: str, calls: Sequence[Step]) -> None:
        for call in calls:
            try:
                call()
            except Exception:
                log.exception("upkeep step %s (%s) failed; it runs again on schedule", name,
                              getattr(call, "__qualname__", call))
