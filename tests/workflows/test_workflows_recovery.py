"""Durable runs: a run whose worker died resumes at the step it was on (or, when that step was a
command, fails with the reason and the chat is told); two schedulers racing fire each schedule once."""
from __future__ import annotations

import threading
import time

import sqlalchemy as sa

from smartbot.storage.db import Database
from smartbot.workflows import schedules, store
from smartbot.workflows.definition import load
from smartbot.workflows.settings import WorkflowSettings
from tests.support.executor import Chat, bind
from tests.support.workflows import REPORT, add_report_command, replies, save, step_rows, steps, wait_run

DEAD_OWNER = "other-host:4242:1"     # another host's worker: taken over once its lease expires


def _interrupted_run(db, at_step: int, lease_until: float) -> int:
    """What a worker that died while running step `at_step` of REPORT leaves behind."""
    definition = load(REPORT, WorkflowSettings())
    with db.write() as conn:
        user_id = conn.execute(sa.text("SELECT user_id FROM identities WHERE platform_user_id = 'op'")).scalar()
        run_id, _ = store.create_run(
            conn, workflow="disk-report", source=REPORT, step_names=[(s.name, s.kind) for s in definition.steps],
            request_key="generic:ev-crashed", trigger="chat", triggered_by="generic:op", user_id=user_id,
            channel="generic", chat_id="chat-9", reply_to="ev-crashed")
        conn.execute(sa.text("UPDATE workflow_runs SET status = 'running', owner = :o, lease_until = :u, "
                             "started_at = :u WHERE id = :i"), {"o": DEAD_OWNER, "u": lease_until, "i": run_id})
        for position in range(at_step):
            store.step_finished(conn, run_id, position, "succeeded", "disk 42% used" if position == 0 else "echo: x")
        store.step_started(conn, run_id, at_step)
    return run_id


def _app(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    bind(app.runtime.db, "op", "olga", ["operator"])
    add_report_command(app.runtime.db)
    save(app.runtime.db, REPORT)
    return app, Chat(app, fake_platform)


def test_a_run_interrupted_in_a_model_step_resumes_there_after_its_lease_expires(live_app, make_config, fake_model,
                                                                                   fake_platform):
    app, chat = _app(live_app, make_config, fake_model, fake_platform)
    run_id = _interrupted_run(app.runtime.db, 1, lease_until=time.time() + 1.0)
    time.sleep(0.5)
    with app.runtime.db.read() as conn:       # the lease is still valid: nobody touches the run
        assert store.get_run(conn, run_id).owner == DEAD_OWNER
    run = wait_run(app.runtime.db, run_id)
    assert run.status == "succeeded"
    rows = step_rows(app.runtime.db, run_id)
    assert rows["usage"].attempts == 0 and rows["usage"].output == "disk 42% used"    # not run again
    assert rows["summary"].attempts == 2 and rows["tell"].status == "succeeded"
    assert replies(chat.platform, "ev-crashed", 2) == [
        "Summary: echo: Summarise for olga: disk 42% used", f"Workflow disk-report (run #{run_id}) finished."]


def test_a_run_interrupted_in_a_command_step_fails_with_the_reason_and_says_so(live_app, make_config, fake_model,
                                                                                fake_platform):
    app, chat = _app(live_app, make_config, fake_model, fake_platform)
    run_id = _interrupted_run(app.runtime.db, 0, lease_until=time.time() - 1)
    run = wait_run(app.runtime.db, run_id)
    reason = "step usage (a command) was interrupted by a restart; it is not run twice"
    assert run.status == "failed" and run.error == reason
    assert steps(app.runtime.db, run_id) == [("usage", "failed"), ("summary", "skipped"), ("tell", "skipped")]
    assert replies(chat.platform, "ev-crashed", 1) == [
        f"Workflow disk-report (run #{run_id}) failed: {reason}"]
    assert fake_model.calls() == 0


def test_a_run_whose_worker_died_after_a_failed_step_ends_failed_without_going_on(live_app, make_config, fake_model,
                                                                                    fake_platform):
    app, chat = _app(live_app, make_config, fake_model, fake_platform)
    run_id = _interrupted_run(app.runtime.db, 0, lease_until=time.time() - 1)
    with app.runtime.db.write() as conn:
        store.step_finished(conn, run_id, 0, "failed", "", "command report failed (exit code 1)")
    run = wait_run(app.runtime.db, run_id)
    assert (run.status, run.error) == ("failed", "step usage failed: command report failed (exit code 1)")
    assert steps(app.runtime.db, run_id) == [("usage", "failed"), ("summary", "skipped"), ("tell", "skipped")]
    assert fake_model.calls() == 0 and len(replies(chat.platform, "ev-crashed", 1)) == 1


def test_finished_runs_are_purged_after_keep_days_and_running_ones_never(db):
    with db.write() as conn:
        ids = [store.create_run(conn, workflow="w", source="", step_names=[("a", "message")], request_key=f"k{i}",
                                trigger="api", triggered_by="admin:root", user_id=None)[0] for i in range(3)]
        conn.execute(sa.text("UPDATE workflow_runs SET status = 'succeeded', finished_at = 100 WHERE id = :i"),
                     {"i": ids[0]})
        conn.execute(sa.text("UPDATE workflow_runs SET status = 'failed', finished_at = :t WHERE id = :i"),
                     {"i": ids[1], "t": time.time()})
        assert store.purge_finished(conn, time.time() - 86400) == 1
    with db.read() as conn:
        assert [r.id for r in store.list_runs(conn)] == [ids[2], ids[1]]
        assert store.steps_of(conn, ids[0]) == [] and len(store.steps_of(conn, ids[1])) == 1


def test_two_schedulers_racing_fire_each_schedule_once(db):
    save(db, REPORT)
    now = time.time()
    with db.write() as conn:
        owner = conn.execute(sa.text("INSERT INTO users (name, display_name, is_active, locale, created_at, updated_at)"
                                     " VALUES ('owner', 'owner', true, '', 0, 0) RETURNING id")).scalar()
        conn.execute(sa.text("INSERT INTO user_roles (user_id, role_id) SELECT :u, id FROM roles WHERE name = 'admin'"),
                     {"u": owner})
        for _ in range(20):
            conn.execute(sa.text(
                "INSERT INTO schedules (workflow, cron, owner_user_id, args, channel, chat_id, enabled, next_run_at, "
                "created_at, updated_at) VALUES ('disk-report', '* * * * *', :u, '{}', '', '', true, :due, 0, 0)"),
                {"u": owner, "due": now - 5})
    nodes = [Database(db.url) for _ in range(2)]
    barrier = threading.Barrier(len(nodes))
    fired: list[list[int]] = [[] for _ in nodes]

    def tick(i: int) -> None:
        barrier.wait()
        fired[i] = schedules.fire_due(nodes[i], WorkflowSettings(), now)

    threads = [threading.Thread(target=tick, args=(i,)) for i in range(len(nodes))]
    for th in threads:
        th.start()
    for th in threads:
        th.join(30)
    for node in nodes:
        node.dispose()
    with db.read() as conn:
        runs = conn.execute(sa.text("SELECT trigger, request_key FROM workflow_runs")).all()
        next_times = {r[0] for r in conn.execute(sa.text("SELECT next_run_at FROM schedules"))}
    assert len(runs) == 20 and {r.trigger for r in runs} == {"schedule"}
    assert sorted(fired[0] + fired[1]) == sorted(set(fired[0] + fired[1])) and len(fired[0] + fired[1]) == 20
    assert next_times == {schedules.next_time("* * * * *", now)}
    assert schedules.fire_due(db, WorkflowSettings(), now) == []        # nothing due any more
