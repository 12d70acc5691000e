"""Workers step back while webhooks pile up or arrive as a burst, and only then."""
from __future__ import annotations

import threading
import time

from smartbot.jobs.pressure import IngestPressure


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
