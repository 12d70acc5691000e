"""The preview throttle shared by a process's replies: one edit per interval per chat, longer after a 429."""
from __future__ import annotations

from smartbot.pipeline.live import Throttle


def test_each_chat_waits_its_own_interval_and_a_retry_after_holds_it_longer():
    now = [100.0]
    throttle = Throttle(clock=lambda: now[0])
    assert throttle.wait("telegram:1") == 0.0
    throttle.hold("telegram:1", 1.0)
    assert throttle.wait("telegram:1") == 1.0 and throttle.wait("telegram:2") == 0.0
    throttle.hold("telegram:1", 5.0)                    # a 429's retry_after
    throttle.hold("telegram:1", 1.0)                    # a shorter hold never shortens it
    now[0] = 103.0
    assert throttle.wait("telegram:1") == 2.0
    now[0] = 106.0
    assert throttle.wait("telegram:1") == 0.0


def test_a_process_with_many_chats_forgets_the_ones_that_are_free():
    now = [0.0]
    throttle = Throttle(clock=lambda: now[0])
    for n in range(10_005):
        throttle.hold(f"slack:{n}", 1.0)
    now[0] = 2.0
    throttle.hold("slack:new", 1.0)
    assert len(throttle._due) == 1
