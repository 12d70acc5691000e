"""The platform's API fails while replies queue: 5xx, then 429 with Retry-After, then requests that
hang past our timeout. After it recovers every reply is delivered, once, and in order per chat (the
fake platform records arrival order); 429's Retry-After is honoured between attempts. The long
version is bench/reliability_faults.py platform."""
from __future__ import annotations

import time

from tests.support.burst import message
from tests.support.fault_scenarios import platform_api_outage


def test_replies_queued_through_5xx_429_and_timeouts_all_arrive_in_order_per_chat(live_app, make_config,
                                                                                  fake_model, fake_platform):
    # The hang outlasts the read timeout by far, and the timeout leaves a healthy platform on a busy
    # machine (other tests running beside this one) ample time to answer.
    config = make_config(model=fake_model, jobs={"outbox_backoff_max": 2.0, "outbox_max_attempts": 30})
    config["channels"]["generic"].update(read_timeout=1.0)
    app = live_app(config)
    report = platform_api_outage(app, fake_platform, per_phase=16, chats=4, phase_seconds=2.0, hang=2.5)
    print("\n" + "\n".join(report.lines()))
    extra, result = report.extra, report.result
    assert extra["delivered during the outage"] == 0
    assert result.unanswered == [] and result.answered_twice == {} and result.retransmitted == 0, report.lines()
    assert extra["chats"] == 4 and extra["chats out of order"] == []
    assert {503, 429, 504} <= set(extra["attempts by status"]), extra
    assert extra["shortest wait after a 429 (s)"] >= 1.9, extra     # Retry-After: 2 was honoured


def test_a_stop_hands_back_replies_that_were_waiting_for_their_turn(live_app, make_config, fake_model,
                                                                  fake_platform):
    import sqlalchemy as sa

    app = live_app(make_config(model=fake_model, jobs={"outbox_backoff_max": 60.0}))
    fake_platform.outage(503)
    assert app.post_generic(message(0, 1, "stop")).status_code == 200
    assert fake_platform.wait_for(0, 0) == [] and _wait_attempted(fake_platform)
    db, owner = app.runtime.db, app.runtime.owner
    with db.write() as conn:          # leased to this process and waiting in its queue, as after a sweep
        conn.execute(sa.text("UPDATE outbox SET status = 'leased', owner = :o, lease_until = :t"),
                     {"o": owner, "t": time.time() + 300})
    app.runtime.runner.dispatch("outbox", [1], 30.0)
    app.stop()
    with db.read() as conn:
        row = conn.execute(sa.text("SELECT status, owner FROM outbox")).one()
    assert (row.status, row.owner) == ("queued", None), "the stopped process kept the reply's lease"


def _wait_attempted(platform, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not platform.log and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(platform.log)


def test_two_jobs_for_one_reply_in_one_process_send_it_once(live_app, make_config, fake_model, fake_platform):
    """The retry timer and the recovery sweep can both hand a due reply to the same process; found by
    bench/reliability_faults.py platform, where a reply went out twice within 5 ms."""
    import threading

    import sqlalchemy as sa

    app = live_app(make_config(model=fake_model, jobs={"outbox_backoff_max": 60.0, "sweep_seconds": 60.0}))
    fake_platform.outage(503)
    assert app.post_generic(message(0, 1, "twice")).status_code == 200
    assert _wait_attempted(fake_platform)
    time.sleep(0.3)                      # the failed attempt is recorded: the reply waits, queued
    fake_platform.outage(200, stall=0.5)     # the next attempt is slow, so two jobs overlap
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE outbox SET next_attempt_at = 0"))
    jobs = [threading.Thread(target=app.runtime.delivery.deliver, args=(1,)) for _ in range(2)]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join(10)
    assert [a["status"] for a in fake_platform.log] == [503, 200], fake_platform.log
