"""Running the suite on several pytest-xdist workers at once (scripts/test.sh starts them).

Each worker gets what tests would otherwise share: a Redis database of its own (Celery's queues and
control messages, cached answers and rate-limit counters are per Redis database, and a test that
flushes it must not wipe another worker's). PostgreSQL needs nothing here: every test gets a schema
of its own (tests/support/postgres.py). Ports are bound at 0 and temporary folders are per worker.

scripts/test.sh hands out whole modules (`--dist loadfile`): a module-scoped server, browser or
deployment then starts once, on one worker. The modules that took longest in a recorded run
(tests/support/module_seconds.txt) start first, so that no long one runs alone at the end while the
other workers idle (xdist's own order, by number of tests, put the few-test deployments last; test.sh
turns it off). Tests marked `alone` wait until no other worker runs a test, and the others wait for
them (MachineLock).

`python -m tests.support.parallel run.xml` prints a new module_seconds.txt from a run's junit file.
"""
from __future__ import annotations

import collections
import contextlib
import fcntl
import os
import re
import statistics
import sys
import xml.etree.ElementTree as ElementTree
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


MODULE_SECONDS = Path(__file__).with_name("module_seconds.txt")


def recorded_module_seconds(path: Path = MODULE_SECONDS) -> dict[str, float]:
    """Module file (as pytest names it, tests/x/test_y.py) -> seconds its tests took in a recorded run."""
    seconds: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            if line.strip() and not line.startswith("#"):
                value, module = line.split()
                seconds[module] = float(value)
    return seconds


def longest_modules_first(items: list[pytest.Item], seconds: dict[str, float] | None = None) -> None:
    """Whole modules in the order of their recorded time, longest first; a module's tests keep their
    own order (they may build on each other's state through a module fixture). A module not recorded
    yet counts as the longest recorded one when it holds a `slow` test, else as a middling one.
    Without a record, modules go by their number of tests (xdist's own guess), `slow` ones first."""
    if not items:
        return
    seconds = recorded_module_seconds() if seconds is None else seconds
    slow = {item.nodeid.split("::")[0] for item in items if item.get_closest_marker("slow")}
    if not seconds:
        seconds = dict(collections.Counter(item.nodeid.split("::")[0] for item in items))
        seconds.update({module: float(len(items)) for module in slow})
    middling = statistics.median(seconds.values())
    longest = max(seconds.values())

    def weight(item: pytest.Item) -> float:
        module = item.nodeid.split("::")[0]
        return seconds.get(module, longest if module in slow else middling)
    items.sort(key=lambda item: -weight(item))


def module_seconds_from_junit(junit: Path) -> dict[str, float]:
    """Seconds per module file in a junit report (`pytest --junitxml`), set-up and tear-down included."""
    seconds: dict[str, float] = collections.defaultdict(float)
    for case in ElementTree.parse(junit).iter("testcase"):
        module = case.get("classname", "").split(".")
        while module and not module[-1].startswith("test_"):
            module.pop()             # a test class's name
        if module:
            seconds["/".join(module) + ".py"] += float(case.get("time") or 0)
    return dict(seconds)


def _print_module_seconds(junit: Path) -> None:
    seconds = module_seconds_from_junit(junit)
    print("# Seconds each test module took in one run of the whole suite (see tests/support/parallel.py).")
    for module, value in sorted(seconds.items(), key=lambda kv: (-kv[1], kv[0])):
        print(f"{value:.1f} {module}")


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


if __name__ == "__main__":
    _print_module_seconds(Path(sys.argv[1]))
