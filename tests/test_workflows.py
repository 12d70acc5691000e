"""Workflows end to end through the real app, the fake model and the fake platform: the three-step
workflow (command -> model summary -> message) from chat, from the API and on a schedule; on_error
stop and continue; retries and timeouts; conditions; permissions (audited)."""
from __future__ import annotations

import pytest

from tests.support.admin_api import AdminApi
from tests.support.executor import Chat, audit_rows, bind, details
from tests.support.workflows import REPORT, add_report_command, save, step_rows, steps, wait_run


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
    texts = _replies(chat, event, 3)
    assert texts[0] == f"Workflow disk-report started (run #{run.id}); I will post the outcome here."
    assert "Summary: echo: Summarise for olga: disk 42% used" in texts
    assert texts[-1] == f"Workflow disk-report (run #{run.id}) finished."
    assert model.requests[-1]["json"]["messages"][-1]["content"] == "Summarise for olga: disk 42% used"
    started = details(audit_rows(app.runtime.db, "workflow_run.started")[-1])
    assert started == {"workflow": "disk-report", "trigger": "chat", "args": {}}
    assert audit_rows(app.runtime.db, "workflow_run.finished")[-1].result == "ok"
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["via"] == "workflow" and ran["exit_code"] == 0


def _replies(chat, event: str, count: int, timeout: float = 10.0) -> list[str]:
    import time

    deadline = time.monotonic() + timeout
    while True:
        got = [r["json"]["text"] for r in chat.platform.replies_to(event)]
        if len(got) >= count or time.monotonic() > deadline:
            return got
        time.sleep(0.05)
