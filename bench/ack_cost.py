"""What acknowledging only after the commit costs a webhook, taken apart in one process.

    python bench/ack_cost.py [--ops 500] [--rounds 5] [--threads 16]

`--threads` request threads (gunicorn's shipped count per worker) each do some CPU work standing
in for a request's parsing and verifying (~25 us of Python), then one of:

  none      nothing more (a handler that stores nothing, like the Bolt baseline);
  empty     a group-committed transaction with no statement in it (`Database.run_write`);
  accept    the webhook's real write (`inbox.accept`: the INSERT that stores and leases the
            message, group-committed).

Printed per op: process CPU (every thread), voluntary context switches, and the average batch.
`empty - none` is the price of waiting for a shared commit at all: each waiting thread sleeps on
its lock and wakes for the GIL again, two or three switches, about 30 us of CPU with CPython's
threads whatever the transaction holds; `accept - empty` is the INSERT itself. Under gunicorn the
same parts cost about 2.5x more (more threads in the GIL, gunicorn's own I/O threads): see
docs/performance.md. In-process CPU is steady from run to run where wrk's figures on a shared
machine are not, so this is the place to try a change to the write path first.
"""
from __future__ import annotations

import argparse
import os
import resource
import statistics
import sys
import tempfile
import threading
from pathlib import Path
from typing import Callable

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartbot.settings.sections import ServerSettings  # noqa: E402
from smartbot.storage.db import Database  # noqa: E402
from smartbot.gateway import inbox  # noqa: E402
from smartbot.messages import InboundMessage  # noqa: E402

WORK_LOOPS = 1500       # ~25 us of pure Python on this class of machine


def _request_work() -> int:
    total = 0
    for i in range(WORK_LOOPS):
        total += i
    return total


class _Messages:
    """Distinct messages over 500 chats, safe to take from many threads."""

    def __init__(self) -> None:
        self._n = 0
        self._lock = threading.Lock()

    def next(self) -> InboundMessage:
        with self._lock:
            self._n += 1
            n = self._n
        return InboundMessage(channel="generic", event_id=f"ack-{n}", chat_id=f"c{n % 500}",
                              user_id=f"u{n % 500}", user_name="bench", text="hello from the ack benchmark")


def _variants(db: Database, messages: _Messages) -> dict[str, Callable[[], None]]:
    def none() -> None:
        messages.next()

    def empty() -> None:
        messages.next()
        db.run_write(lambda conn: None)

    def accept() -> None:
        inbox.accept(db, messages.next(), "bench-owner", 30.0)

    return {"none": none, "empty": empty, "accept": accept}


def _round(db: Database, op: Callable[[], None], threads: int, ops: int) -> tuple[float, float, float]:
    """(CPU us, voluntary switches, average batch) per op over `threads` x `ops` ops."""
    def work() -> None:
        for _ in range(ops):
            _request_work()
            op()

    pool = [threading.Thread(target=work) for _ in range(threads)]
    committer = db._committer
    batches, writes = committer.batches, committer.writes
    before = resource.getrusage(resource.RUSAGE_SELF)
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    after = resource.getrusage(resource.RUSAGE_SELF)
    n = threads * ops
    cpu = (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime) / n * 1e6
    batches_after, writes_after = committer.batches, committer.writes
    batch = (writes_after - writes) / (batches_after - batches) if batches_after > batches else 0.0
    return cpu, (after.ru_nvcsw - before.ru_nvcsw) / n, batch


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--ops", type=int, default=500, help="per thread and round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=ServerSettings().threads)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="smartbot-ack-") as tmp:
        db = Database(f"sqlite:///{os.path.join(tmp, 'ack.db')}")
        db.ensure_schema(True)
        variants = _variants(db, _Messages())
        print(f"{args.threads} threads, {args.ops} ops each per round, {args.rounds} rounds (median)")
        print(f"{'variant':<8} {'us CPU per op':>14} {'switches per op':>16} {'batch':>6}   each round (us)")
        medians: dict[str, float] = {}
        for name, op in variants.items():
            _round(db, op, args.threads, max(10, args.ops // 5))       # warm up
            rounds = [_round(db, op, args.threads, args.ops) for _ in range(args.rounds)]
            cpu = statistics.median(r[0] for r in rounds)
            medians[name] = cpu
            print(f"{name:<8} {cpu:>14.1f} {statistics.median(r[1] for r in rounds):>16.1f} "
                  f"{statistics.median(r[2] for r in rounds):>6.1f}   {' / '.join(f'{r[0]:.0f}' for r in rounds)}")
        db.dispose()
    print(f"waiting for a shared commit (empty - none): {medians['empty'] - medians['none']:.1f} us per op; "
          f"the INSERT (accept - empty): {medians['accept'] - medians['empty']:.1f} us per op")


if __name__ == "__main__":
    main()
