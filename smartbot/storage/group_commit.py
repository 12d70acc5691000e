"""Group commit: write functions from many threads share transactions, one batch at a time.

SQLite takes one writer at a time. Giving each request its own transaction means every request
waits for the lock, and a lock holder that loses the GIL to another thread keeps everyone waiting.
Here the first thread to arrive becomes the leader: it runs every queued function in one
transaction and commits once, while later arrivals wait for their results. Under load, batches
grow by themselves; alone, a thread runs its own function with no hand-off.

If a batch fails, its functions are retried one per transaction, so one bad write never takes its
neighbours down with it. A function must only touch the connection it is given (its results are
returned only after the commit it is part of succeeded).
"""
from __future__ import annotations

import threading
from contextlib import AbstractContextManager
from typing import Any, Callable, TypeVar

from sqlalchemy.engine import Connection

T = TypeVar("T")


class _Item:
    __slots__ = ("fn", "done", "result", "error", "wake")

    def __init__(self, fn: Callable[[Connection], Any]) -> None:
        self.fn = fn
        self.done = False
        self.result: Any = None
        self.error: BaseException | None = None
        self.wake = threading.Lock()     # held until this waiter is woken (done, or asked to lead)
        self.wake.acquire()


class GroupCommitter:
    def __init__(self, transaction: Callable[[], AbstractContextManager[Connection]], max_batch: int = 200) -> None:
        self._transaction = transaction
        self._max_batch = max_batch
        self._lock = threading.Lock()
        self._queue: list[_Item] = []
        self._busy = False
        self.batches = 0
        self.writes = 0

    def run(self, fn: Callable[[Connection], T]) -> T:
        item = _Item(fn)
        with self._lock:
            self._queue.append(item)
            lead = not self._busy
            self._busy = True
        if not lead:
            item.wake.acquire()          # each waiter is woken exactly once: no thundering herd
        if not item.done:
            self._lead(item)
        if item.error is not None:
            raise item.error
        return item.result

    def _lead(self, item: _Item) -> None:
        """Commit batches until our own write is done, then pass the lead to the next waiter."""
        while True:
            with self._lock:
                batch = self._queue[:self._max_batch]
                del self._queue[:self._max_batch]
            self._execute(batch)
            for other in batch:
                if other is not item:
                    other.wake.release()
            with self._lock:
                if not self._queue:
                    self._busy = False
                    return
                if item.done:
                    self._queue[0].wake.release()    # it wakes not done, so it leads next
                    return

    def _execute(self, batch: list[_Item]) -> None:
        self.batches += 1
        self.writes += len(batch)
        try:
            results = []
            with self._transaction() as conn:
                for item in batch:
                    results.append(item.fn(conn))
        except Exception as exc:
            if len(batch) == 1:
                batch[0].error = exc
                batch[0].done = True
                return
            for item in batch:
                self._execute_alone(item)
            return
        for item, result in zip(batch, results):
            item.result = result
            item.done = True

    def _execute_alone(self, item: _Item) -> None:
        try:
            with self._transaction() as conn:
                item.result = item.fn(conn)
        except Exception as exc:
            item.error = exc
        item.done = True
