"""Workers step back while webhooks pile up or arrive as a burst, and only then."""
from __future__ import annotations

import threading
import time

from smartbot.jobs.pressure import IngestPressure
from tests.support.waiting import wait_until


def arrive(pressure: IngestPressure, count: int) -> None:
    for _ in range(count):
        pressure.enter()
        pressure.leave()


def test_requests_in_flight_make_workers_wait_for_the_trickle() -> None:
    pressure = IngestPressure(threshold=2, trickle=0.2)
    pressure.enter()
    pressure.enter()
    assert pressure.busy()
    pressure.wait_turn()                 # the first start of a trickle slot goes at once
    started = time.monotonic()
    pressure.wait_turn()
    assert time.monotonic() - started >= 0.15
    assert pressure.deferred_starts == 1


def test_a_burst_of_arrivals_is_pressure_even_with_none_in_flight() -> None:
    pressure = IngestPressure(threshold=2, burst_rate=200, window=0.5)     # 100 arrivals per window
    arrive(pressure, 150)
    assert pressure.in_flight == 0
    assert pressure.busy()


def test_a_steady_trickle_of_messages_is_no_burst() -> None:
    pressure = IngestPressure(threshold=2, burst_rate=200, window=0.5)
    arrive(pressure, 20)
    assert not pressure.busy()
    pressure.wait_turn()                 # returns at once
    assert pressure.deferred_starts == 0


def test_the_burst_ends_when_arrivals_stop() -> None:
    pressure = IngestPressure(threshold=2, burst_rate=200, window=0.1)
    arrive(pressure, 50)
    assert pressure.busy()
    time.sleep(0.25)                     # two windows without an arrival
    assert not pressure.busy()


def test_a_waiting_worker_starts_once_the_burst_is_over() -> None:
    pressure = IngestPressure(threshold=2, trickle=10.0, burst_rate=200, window=0.1)
    arrive(pressure, 50)
    pressure.wait_turn()                 # takes the one trickle slot of the next 10 s
    done = threading.Event()
    waiter = threading.Thread(target=lambda: (pressure.wait_turn(), done.set()), daemon=True)
    waiter.start()
    assert done.wait(5.0), "the worker should start when the burst is over, not after the 10 s trickle"


class _CountingCondition(threading.Condition):
    def __init__(self) -> None:
        super().__init__(threading.Lock())
        self.waits = 0

    def wait(self, timeout=None):  # noqa: ANN001 - threading's signature
        self.waits += 1
        return super().wait(timeout)


def test_requests_during_a_burst_do_not_wake_the_waiting_worker() -> None:
    """Each wake-up costs the worker's requests two context switches and a turn at the GIL; under a
    burst they used to come with every request that finished."""
    pressure = IngestPressure(threshold=2, trickle=10.0, burst_rate=200, window=1.0)     # 200 arrivals a window
    arrive(pressure, 250)
    pressure.wait_turn()                 # takes the one trickle slot of the next 10 s
    pressure._cv = counting = _CountingCondition()
    waiter = threading.Thread(target=pressure.wait_turn, daemon=True)
    waiter.start()
    assert wait_until(lambda: counting.waits == 1, 5.0)
    for _ in range(200):                 # the burst goes on, and every request leaves again
        arrive(pressure, 1)
        time.sleep(0.001)
    assert pressure.busy() and waiter.is_alive()
    assert counting.waits <= 2, f"woken {counting.waits - 1} times while the burst went on"
