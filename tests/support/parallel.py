"""Running the suite on several pytest-xdist workers at once (scripts/test.sh starts them).

Each worker gets what tests would otherwise share: a Redis database of its own (Celery's queues and
control messages, cached answers and rate-limit counters are per Redis database, and a test that
flushes it must not wipe another worker's). PostgreSQL needs nothing here: every test gets a schema
of its own (tests/support/postgres.py). Ports are bound at 0 and temporary folders are per worker.

scripts/test.sh hands out whole modules (`--dist loadfile`): a module-scoped server, browser or
deployment then starts once, on one worker. The modules marked `slow` start first, so that the
longest ones do not run alone at the end.
"""
from __future__ import annotations

import os
import re

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
