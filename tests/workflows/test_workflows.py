"""Workflows end to end through the real app, the fake model and the fake platform: the three-step
workflow (command -> model summary -> message) from chat, from the API and on a schedule; on_error
stop and continue; retries and timeouts; conditions; permissions (audited)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from tests.support.admin_api import AdminApi
from tests.support.executor import Chat, add_command, add_role, audit_rows, bind, details, script
from tests.support.workflows import REPORT, add_report_command, replies, save, step_rows, steps, wait_run


@pytest.fixture
def bot(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, workflows={"http_allow": [f"127.0.0.1:{fake_model.port}"]}))
    db = app.runtime.db
    bind(db, "op", "olga", ["operator"])
    bind(db, "usr", "uma", ["user"])
    add_report_command(db)
    save(db, REPORT)
    return app, Chat(app, fake_platform), fake_model


def test_three_step_workflow_from_chat_posts_the_summary_and_the_outcome(bot):
    app, chat, model = bot
    event = chat.send("/workflow disk-report", user="op")
    run = wait_run(app.runtime.db)
    assert run.status == "succeeded" and run.trigger == "chat" and run.triggered_by == "generic:op"
    assert steps(app.runtime.db, run.id) == [("usage", "succeeded"), ("summary", "succeeded"), ("tell", "succeeded")]
    texts = replies(chat.platform, event, 3)
    assert texts[0] == f"Workflow disk-report started (run #{run.id}); I will post the outcome here."
    assert "Summary: echo: Summarise for olga: disk 42% used" in texts
    assert texts[-1] == f"Workflow disk-report (run #{run.id}) finished."
    assert model.requests[-1]["json"]["messages"][-1]["content"] == "Summarise for olga: disk 42% used"
    started = details(audit_rows(app.runtime.db, "workflow_run.started")[-1])
    assert started == {"workflow": "disk-report", "trigger": "chat", "args": {}}
    assert audit_rows(app.runtime.db, "workflow_run.finished")[-1].result == "ok"
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["via"] == "workflow" and ran["exit_code"] == 0


def test_the_same_workflow_from_the_api_answers_the_chat_it_names(bot):
    app, chat, model = bot
    api = AdminApi(app)
    resp = api.post("/workflows/disk-report/runs", {"args": {"who": "ops"}, "channel": "generic", "chat_id": "room"})
    assert resp.status_code == 202, resp.text
    run = wait_run(app.runtime.db, resp.json()["id"])
    assert run.status == "succeeded" and run.trigger == "api" and run.triggered_by == "admin:root"
    texts = chat.in_chat("room", count=2)
    assert texts == ["Summary: echo: Summarise for root: disk 42% used",
                     f"Workflow disk-report (run #{run.id}) finished."]
    shown = api.get(f"/workflow-runs/{run.id}").json()
    assert [s["status"] for s in shown["steps"]] == ["succeeded"] * 3 and shown["args"] == {"who": "ops"}
    assert shown["steps"][0]["output"] == "disk 42% used"
    assert [r["id"] for r in api.get("/workflow-runs", params={"workflow": "disk-report"}).json()["runs"]] == [run.id]


def test_the_same_workflow_on_a_schedule_runs_as_its_owner(bot):
    app, chat, model = bot
    api = AdminApi(app)
    made = api.post("/schedules", {"workflow": "disk-report", "cron": "*/5 * * * *", "owner": "olga",
                                   "channel": "generic", "chat_id": "night"})
    assert made.status_code == 201, made.text
    assert made.json()["next_run_at"] % 300 == 0
    with app.runtime.db.write() as conn:      # the clock reaches the firing time
        conn.execute(sa.text("UPDATE schedules SET next_run_at = 1 WHERE id = :i"), {"i": made.json()["id"]})
    run = wait_run(app.runtime.db)
    assert (run.status, run.trigger, run.triggered_by) == ("succeeded", "schedule", f"schedule:{made.json()['id']}")
    assert chat.in_chat("night", count=2)[0] == "Summary: echo: Summarise for olga: disk 42% used"
    after = api.get(f"/schedules/{made.json()['id']}").json()
    assert after["last_run_at"] is not None and after["next_run_at"] > after["last_run_at"]


FLAKY = """\
name: flaky
steps:
  - {name: broken, kind: command, command: broken, on_error: continue}
  - {name: gate, kind: condition, when: "steps.broken.status == 'failed'", then: skip_next}
  - {name: skipped, kind: message, text: "never sent"}
  - {name: told, kind: message, text: "broken said {{ steps.broken.output }} ({{ steps.broken.status }})"}
  - {name: stopper, kind: command, command: broken}
  - {name: after, kind: message, text: "not reached"}
"""


def test_on_error_continue_goes_on_and_stop_ends_the_run_with_the_reason(bot):
    app, chat, model = bot
    add_command(app.runtime.db, "broken", [script("import sys; print('oops'); sys.exit(3)")])
    save(app.runtime.db, FLAKY)
    event = chat.send("/workflow flaky", user="op")
    run = wait_run(app.runtime.db)
    assert run.status == "failed" and run.error == "step stopper failed: command broken failed (exit code 3)"
    assert steps(app.runtime.db, run.id) == [("broken", "failed"), ("gate", "succeeded"), ("skipped", "skipped"),
                                             ("told", "succeeded"), ("stopper", "failed"), ("after", "skipped")]
    texts = replies(chat.platform, event, 3)
    assert "broken said oops (failed)" in texts and "never sent" not in texts
    assert texts[-1] == f"Workflow flaky (run #{run.id}) failed: {run.error}"
    assert audit_rows(app.runtime.db, "workflow_run.finished")[-1].result == "failed"


def test_a_condition_can_stop_the_run(bot):
    app, chat, model = bot
    save(app.runtime.db, """\
name: gate
steps:
  - {name: check, kind: condition, when: "args.mode == 'dry'", then: stop}
  - {name: act, kind: message, text: "acting"}
""")
    event = chat.send("/workflow gate mode=dry", user="op")
    run = wait_run(app.runtime.db)
    assert run.status == "stopped" and steps(app.runtime.db, run.id) == [("check", "succeeded"), ("act", "skipped")]
    assert replies(chat.platform, event, 2)[-1] == f"Workflow gate (run #{run.id}) stopped: stopped by condition check"


def test_retries_and_timeouts(bot):
    app, chat, model = bot
    save(app.runtime.db, """\
name: patient
steps:
  - {name: first, kind: model, prompt: "hello", retries: 2}
  - {name: slow, kind: model, prompt: "slowly", timeout: 0.5, on_error: continue}
  - {name: probe, kind: http, url: "http://127.0.0.1:%d/v1/models", timeout: 5}
  - {name: sleepy, kind: command, command: sleepy, timeout: 0.5, on_error: continue}
""" % model.port)
    add_command(app.runtime.db, "sleepy", [script("import time; time.sleep(5)")])
    model.script({"status": 400, "body": {"error": {"message": "bad"}}}, {}, {"delay": 2.0})
    chat.send("/workflow patient", user="op")
    run = wait_run(app.runtime.db)
    rows = step_rows(app.runtime.db, run.id)
    assert (rows["first"].status, rows["first"].attempts, rows["first"].output) == ("succeeded", 2, "echo: hello")
    assert (rows["slow"].status, rows["slow"].error) == ("failed", "timed out after 0.5 s")
    assert rows["probe"].status == "succeeded" and '"fake-1"' in rows["probe"].output
    assert (rows["sleepy"].status, rows["sleepy"].error) == ("failed", "command sleepy failed (stopped: timeout)")
    assert run.status == "succeeded"


def test_http_steps_reach_only_allowed_hosts(bot):
    app, chat, model = bot
    save(app.runtime.db, """\
name: caller
steps:
  - name: ask
    kind: http
    method: POST
    url: "http://127.0.0.1:%d/v1/chat/completions"
    headers: {Content-Type: application/json}
    body: '{"model": "m", "messages": [{"role": "user", "content": "{{ args.q }}"}]}'
  - {name: elsewhere, kind: http, url: "{{ args.url }}"}
""" % model.port)
    chat.send(f"/workflow caller q=ping url={app.url}/healthz", user="op")
    run = wait_run(app.runtime.db)
    rows = step_rows(app.runtime.db, run.id)
    assert rows["ask"].status == "succeeded" and "echo: ping" in rows["ask"].output
    assert model.requests[-1]["headers"]["Content-Type"] == "application/json"
    assert rows["elsewhere"].status == "failed" and "is not in [workflows] http_allow" in rows["elsewhere"].error
    assert run.status == "failed"


def test_a_template_reaching_for_python_internals_is_refused_at_save_and_at_run_time(bot):
    app, chat, model = bot
    api = AdminApi(app)
    for template in ("{{ ''.__class__.__mro__ }}", "{{ cycler.__init__.__globals__.os }}",
                     "{{ args|attr('__class__') }}"):
        source = f"name: evil\nsteps:\n  - {{name: a, kind: message, text: \"{template}\"}}\n"
        bad = api.post("/workflows", {"yaml": source})
        assert bad.status_code == 422 and bad.json()["field"] == "steps[0].text", bad.text
        assert "template" in bad.json()["error"]
    assert api.get("/workflows/evil").status_code == 404
    save(app.runtime.db, "name: sneaky\nsteps:\n  - {name: a, kind: message, text: \"{{ user[args.key] }}\"}\n")
    event = chat.send("/workflow sneaky key=__class__", user="op")
    run = wait_run(app.runtime.db)
    assert run.status == "failed" and "refused by the sandbox" in run.error and "__class__" in run.error
    assert "refused by the sandbox" in replies(chat.platform, event, 2)[-1]


def test_a_user_without_workflow_run_is_refused_and_audited(bot):
    app, chat, model = bot
    reply = chat.say("/workflow disk-report", user="usr")
    assert "not allowed" in reply and "workflow:run:disk-report" in reply
    denied = audit_rows(app.runtime.db, "workflow.denied")
    assert len(denied) == 1 and denied[0].actor == "generic:usr" and "lacks" in details(denied[0])["reason"]
    with app.runtime.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM workflow_runs")).scalar() == 0


def test_a_command_step_runs_with_the_triggering_users_rights(bot):
    app, chat, model = bot
    add_role(app.runtime.db, "reporter", ["chat", "workflow:run:disk-report"])
    bind(app.runtime.db, "rep", "rex", ["reporter"])
    event = chat.send("/workflow disk-report", user="rep")
    run = wait_run(app.runtime.db)
    assert run.status == "failed" and "lacks 'command:run:report'" in run.error
    assert steps(app.runtime.db, run.id) == [("usage", "failed"), ("summary", "skipped"), ("tell", "skipped")]
    denied = audit_rows(app.runtime.db, "command.denied")
    assert denied[-1].actor == "generic:rep" and details(denied[-1])["via"] == "workflow"
    assert audit_rows(app.runtime.db, "command.ran") == [] and model.calls() == 0
    assert "lacks 'command:run:report'" in replies(chat.platform, event, 2)[-1]


def test_a_model_step_keeps_to_the_triggering_users_daily_token_quota(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, quotas={"per_role": {"operator": 0}}))
    bind(app.runtime.db, "op", "olga", ["operator"])
    add_report_command(app.runtime.db)
    save(app.runtime.db, REPORT)
    chat = Chat(app, fake_platform)
    event = chat.send("/workflow disk-report", user="op")
    run = wait_run(app.runtime.db)
    assert run.status == "failed" and "quota" in run.error
    assert steps(app.runtime.db, run.id) == [("usage", "succeeded"), ("summary", "failed"), ("tell", "skipped")]
    assert fake_model.calls() == 0
    refused = audit_rows(app.runtime.db, "model.quota_exceeded")
    assert len(refused) == 1 and details(refused[0])["workflow_run"] == run.id
    assert "quota" in replies(chat.platform, event, 2)[-1]
