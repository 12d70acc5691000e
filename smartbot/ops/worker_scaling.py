"""Workers on demand: `[server] idle_workers` gunicorn workers while the server is quiet, up to
`[server] workers` under load.

Each worker costs about 20 MB even at rest: the master's pages it copies by running (reference
counts, Python's specialised bytecode; docs/performance.md). So the default deployment starts one,
and a second one once webhooks pile up. It uses gunicorn's own signals:

* a worker that sees load (webhooks piling up or arriving as a burst, or a job backlog past its
  threads) sends SIGTTIN to the master, at most once per `ASK_SECONDS`, while the master has fewer
  than `workers` workers;
* when no worker has seen load for `idle_seconds` (a loaded worker touches a file all of them
  share, at most once a second), a worker sends SIGTTOU while there are more than
  `idle_workers`; gunicorn retires its oldest worker gracefully (running jobs finish, unstarted ones
  go back to the inbox). Quiet has to be the whole server's: a new worker that got no connection
  yet, judging by itself, had the busy oldest one retired;
* the master keeps the count between the two whatever signals arrive (`bounded`, from
  gunicorn_conf's `nworkers_changed`).

A keep-alive connection stays with the worker that accepted it, so a worker started under load
would get no share of it. For `REBALANCE_SECONDS` after a sibling started, each older worker closes
its share of its connections (1 in n, for n workers now, each connection decided once) after an
answer ("Connection: close", from gunicorn's `pre_request` hook); those clients reconnect, mostly to
the new worker, which is the one waiting in accept. (Closing every other answer's connection for the
whole window moved all of them to the new worker.)
"""
from __future__ import annotations

import logging
import os
import signal
import threading
import time

log = logging.getLogger(__name__)

ASK_SECONDS = 5.0            # between two requests for another worker from one worker
SIBLINGS_EVERY = 0.5         # how often a loaded worker counts its siblings
STAMP_EVERY = 1.0            # how often a loaded worker touches the shared stamp
REBALANCE_SECONDS = 3.0


def bounded(requested: int, idle_workers: int, workers: int) -> int:
    """The number of workers the master keeps when asked for `requested`."""
    return max(min(idle_workers, workers), min(requested, workers))


def count_workers(master_pid: int) -> int | None:
    """The master's children (its workers); None when the kernel does not list them."""
    try:
        with open(f"/proc/{master_pid}/task/{master_pid}/children") as fh:
            return len(fh.read().split())
    except OSError:
        return None


def _touch(path: str | None) -> None:
    if path is not None:
        try:
            os.utime(path)
        except OSError:
            pass


def _mtime(path: str | None) -> float:
    try:
        return os.stat(path).st_mtime if path is not None else 0.0
    except OSError:
        return 0.0


class WorkerScaling:
    """One worker's side: asks its master for more workers or fewer. `shared_dir` (the folder the
    workers already share for metrics) holds two stamps: when a worker last saw load, and when a
    worker last became ready (the older ones then share their connections with it)."""

    def __init__(self, master_pid: int, idle_workers: int, workers: int, idle_seconds: float,
                 shared_dir: str | None = None, clock=time.time) -> None:
        self.master_pid = master_pid
        self.idle_workers = min(idle_workers, workers)
        self.workers = workers
        self.idle_seconds = idle_seconds
        self._load_stamp = self._ready_stamp = None
        if shared_dir is not None:
            self._load_stamp = self._stamp(shared_dir, "last-load.stamp")
            self._ready_stamp = self._stamp(shared_dir, "worker-ready.stamp")
        self._clock = clock
        now = clock()
        self._last_load = now            # a new worker is not quiet before idle_seconds have passed
        self._stamped_at = -STAMP_EVERY
        self._asked_at = -ASK_SECONDS
        self._retired_at = now
        self._looked_at = -SIBLINGS_EVERY
        self._ready_at = now             # when this worker, or the last sibling it shared with, was ready
        self._rebalance_until = 0.0
        self._rebalance_every = 1        # close one in this many connections
        self._decided: set = set()       # connections (client addresses) decided in this window
        self._lock = threading.Lock()

    @staticmethod
    def _stamp(directory: str, name: str) -> str | None:
        path = os.path.join(directory, name)
        try:
            with open(path, "a"):
                pass
        except OSError:
            return None
        return path

    def ready(self) -> None:
        """This worker built its app and accepts connections (gunicorn's post_worker_init)."""
        self._ready_at = self._clock()
        _touch(self._ready_stamp)

    def load_seen(self) -> None:
        """This worker is under load: ask for another worker if the master has room for one, and
        share connections with a sibling that became ready since."""
        now = self._clock()
        self._last_load = now
        if now - self._stamped_at >= STAMP_EVERY:
            self._stamped_at = now
            _touch(self._load_stamp)
        if now - self._looked_at < SIBLINGS_EVERY:
            return
        with self._lock:
            if now - self._looked_at < SIBLINGS_EVERY:
                return
            self._looked_at = now
            count = count_workers(self.master_pid)
            sibling_ready = _mtime(self._ready_stamp)
            if sibling_ready > self._ready_at:
                self._ready_at = sibling_ready
                self._decided = set()
                self._rebalance_every = max(count or 2, 2)
                self._rebalance_until = now + REBALANCE_SECONDS
            if (count is None or count < self.workers) and now - self._asked_at >= ASK_SECONDS:
                self._asked_at = now
                self._signal(signal.SIGTTIN, "webhooks are piling up: asking for another worker", count)

    def check(self, backlog: int, threads: int) -> None:
        """Now and then (the operations agent's loop): a job backlog is load too; quiet for long
        enough, one worker fewer."""
        if backlog > threads:
            self.load_seen()
            return
        now = self._clock()
        if now - self._last_server_load() < self.idle_seconds or now - self._retired_at < self.idle_seconds:
            return
        count = count_workers(self.master_pid)
        if count is not None and count <= self.idle_workers:
            return
        self._retired_at = now
        self._signal(signal.SIGTTOU, f"quiet for {self.idle_seconds:g} s: one worker fewer", count)

    def _last_server_load(self) -> float:
        """When any worker last saw load (this one, or the shared stamp's time)."""
        return max(self._last_load, _mtime(self._load_stamp))

    def close_connection(self, client: object) -> bool:
        """Should this answer close the connection from `client` (so that it reconnects, most
        likely to the new worker)? Each connection is decided once per window."""
        if self._clock() >= self._rebalance_until or client in self._decided:
            return False
        self._decided.add(client)
        return len(self._decided) % self._rebalance_every == 1

    def _signal(self, sig: signal.Signals, why: str, count: int | None) -> None:
        if os.getppid() != self.master_pid:
            return                       # the master is gone; this worker is on its way out
        log.info("%s (%s workers now, %d-%d)", why, "?" if count is None else count, self.idle_workers, self.workers)
        try:
            os.kill(self.master_pid, sig)
        except OSError:
            pass


_current: WorkerScaling | None = None


def configure(scaling: WorkerScaling | None) -> None:
    """Set by gunicorn's post_fork hook in each worker, before the worker builds its app."""
    global _current
    _current = scaling


def current() -> WorkerScaling | None:
    """This worker's scaling, when it runs under gunicorn (None otherwise). A process forked from a
    worker inherits it, but never signals a master that is not its parent (`_signal`)."""
    return _current
