"""The circuit breaker's states on a clock the test moves: opens after N failures within the
window, lets exactly one probe through after the cool-down, closes on its success."""
from __future__ import annotations

from smartbot.llm.breaker import CLOSED, HALF_OPEN, OPEN, BreakerBoard, BreakerPolicy, CircuitBreaker


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def _breaker(clock: Clock) -> CircuitBreaker:
    return CircuitBreaker("p", BreakerPolicy(failures=3, window=10.0, cooldown=5.0), clock)


def _opened(clock: Clock) -> CircuitBreaker:
    breaker = _breaker(clock)
    for _ in range(3):
        breaker.record_failure("down")
    assert breaker.state == OPEN
    return breaker


def test_opens_after_n_failures_within_the_window():
    clock = Clock()
    breaker = _breaker(clock)
    assert not breaker.record_failure("boom") and not breaker.record_failure("boom")
    assert breaker.allow() and breaker.state == CLOSED
    assert breaker.record_failure("boom") is True
    assert breaker.state == OPEN and not breaker.allow()


def test_failures_outside_the_window_or_before_a_success_do_not_add_up():
    clock = Clock()
    breaker = _breaker(clock)
    breaker.record_failure("a")
    breaker.record_failure("b")
    clock.now += 11
    assert not breaker.record_failure("c") and breaker.state == CLOSED
    breaker.record_success()
    breaker.record_failure("d")
    breaker.record_failure("e")
    assert breaker.state == CLOSED and breaker.snapshot().failures == 2


def test_one_probe_after_the_cooldown_and_it_closes_on_success():
    clock = Clock()
    breaker = _opened(clock)
    clock.now += 4.9
    assert not breaker.allow()
    clock.now += 0.2
    assert breaker.allow() and breaker.state == HALF_OPEN
    assert not breaker.allow(), "only one probe at a time"
    assert breaker.record_success() is True and breaker.state == CLOSED and breaker.allow()


def test_a_failed_probe_opens_it_for_another_cooldown():
    clock = Clock()
    breaker = _opened(clock)
    clock.now += 5
    assert breaker.allow()
    assert breaker.record_failure("still down") is False      # already announced as down
    assert breaker.state == OPEN and not breaker.allow()
    clock.now += 5
    assert breaker.allow()


def test_a_probe_that_never_reports_is_replaced_after_a_cooldown():
    clock = Clock()
    breaker = _opened(clock)
    clock.now += 5
    assert breaker.allow() and not breaker.allow()
    clock.now += 5
    assert breaker.allow()


def test_board_announces_each_change_once():
    clock = Clock()
    board = BreakerBoard(BreakerPolicy(failures=2, window=10, cooldown=1), clock)
    events = []
    board.on_down.connect(lambda name, reason: events.append(("down", name, reason)))
    board.on_up.connect(lambda name: events.append(("up", name)))
    for _ in range(4):
        board.failure("a", "timeout: timed out")
    board.success("b")
    clock.now += 1
    assert board.get("a").allow()
    board.success("a")
    board.success("a")
    assert events == [("down", "a", "timeout: timed out"), ("up", "a")]
    assert board.states()["a"].state == CLOSED
