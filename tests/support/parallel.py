"""Running the suite on several pytest-xdist workers at once (scripts/test.sh starts them).

Each worker gets what tests would otherwise share: a Redis database of its own (Celery's queues and
control messages, cached answers and rate-limit counters are per Redis database, and a test that
flushes it must not wipe another worker's). PostgreSQL needs nothing here: every test gets a schema
of its own (tests/support/postgres.py). Ports are bound at 0 and temporary folders are per worker.

scripts/test.sh hands out whole modules (`--dist loadfile`): a module-scoped server, browser or
deployment then starts once, on one worker. The modules marked `slow` start first, so that the
longest ones do not run alone at the end. Tests marked `alone` wait until no other worker runs a
test, and the others wait for them (MachineLock).
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import re
from pathlib import Path
from typing import Iterator

import pytest

# Redis databases for workers gw0, gw1, ...: counting down from the one scripts/detect_services.py
# names (15), leaving out 13, which tests/security/test_attack_webchat.py flushes for itself.
_SPARE_REDIS_DATABASES = [15, 14, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1]


def worker_index() -> int | None:
    """0 for xdist's worker gw0, 1 for gw1, ...; None when pytest runs in one process."""
    name = os.environ.get("PYTEST_XDIST_WORKER", "")
    return int(name[2:]) if name.startswith("gw") and name[2:].isdigit() else None


def give_each_worker_its_redis_database() -> None:
    """Point SMARTBOT_TEST_REDIS_URL at this worker's own database (before test modules read it)."""
    index, url = worker_index(), os.environ.get("SMARTBOT_TEST_REDIS_URL")
    if index is None or not url:
        return
    database = _SPARE_REDIS_DATABASES[index % len(_SPARE_REDIS_DATABASES)]
    base = re.sub(r"/\d*$", "", url)
    os.environ["SMARTBOT_TEST_REDIS_URL"] = f"{base}/{database}"


def slow_modules_first(items: list[pytest.Item]) -> None:
    """Whole modules that hold a `slow` test move to the front, in their own order (a module's tests
    may build on each other's state through a module fixture)."""
    slow = {item.module.__name__ for item in items if item.module and item.get_closest_marker("slow")}
    items.sort(key=lambda item: 0 if item.module and item.module.__name__ in slow else 1)


class MachineLock:
    """A readers-writer lock shared by the workers of one run: every test holds it shared, and a test
    marked `alone` holds it exclusively, so it runs while no other worker runs a test (its servers
    and clients get the PostgreSQL connections and the CPU they need). A test waiting to run alone
    closes the door to new shared holders first, so that it is not kept waiting for ever."""

    def __init__(self, folder: Path) -> None:
        self._door, self._room = folder / "machine.door", folder / "machine.room"

    @contextlib.contextmanager
    def held(self, alone: bool) -> Iterator[None]:
        with open(self._door, "a") as door, open(self._room, "a") as room:
            fcntl.flock(door, fcntl.LOCK_EX)
            try:
                fcntl.flock(room, fcntl.LOCK_EX if alone else fcntl.LOCK_SH)
            finally:
                if not alone:
                    fcntl.flock(door, fcntl.LOCK_UN)
            try:
                yield
            finally:
                fcntl.flock(room, fcntl.LOCK_UN)
                fcntl.flock(door, fcntl.LOCK_UN)


def machine_lock(worker_temp: Path) -> MachineLock | None:
    """The run's lock under pytest-xdist, in the folder that holds every worker's temporary folder
    (pytest removes it with the run's others); None in a single process, where each test runs alone."""
    return MachineLock(worker_temp.parent) if worker_index() is not None else None
