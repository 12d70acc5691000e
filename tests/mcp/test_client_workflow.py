"""The workflow step kind `mcp`: an MCP tool called with templated arguments, checked like a command
step (the run's user needs mcp:<server>:<tool>, the allow-list holds, a tool needing approval is
refused), against a real stdio MCP server written with the official SDK."""
from __future__ import annotations

import pytest

from smartbot.workflows.definition import DefinitionError, load
from smartbot.workflows.settings import WorkflowSettings
from tests.support.executor import Chat, add_role, audit_rows, bind, details
from tests.support.mcp_servers import Record, stdio_command
from tests.support.workflows import replies, save, steps, wait_run

SUM = """\
name: sum-up
steps:
  - {name: total, kind: mcp, server: files, tool: add, args: {a: "{{ args.x }}", b: 2}}
  - {name: tell, kind: message, text: "Total: {{ steps.total.output }}"}
"""


@pytest.fixture
def bot(live_app, make_config, fake_model, fake_platform):
    record = Record()
    server = {"name": "files", "command": stdio_command(record), "tools": ["add", "echo", "delete_file"],
              "needs_approval": ["delete_file"]}
    app = live_app(make_config(model=fake_model, mcp_servers=[server]))
    db = app.runtime.db
    add_role(db, "summer", ["chat", "workflow:run:*", "mcp:files:*"])
    add_role(db, "runner", ["chat", "workflow:run:*"])
    bind(db, "sm", "sam", ["summer"])
    bind(db, "rn", "rita", ["runner"])
    save(db, SUM)
    return app, Chat(app, fake_platform), record


def test_an_mcp_step_calls_the_tool_with_rendered_arguments(bot):
    app, chat, record = bot
    event = chat.send("/workflow sum-up x=40", user="sm")
    run = wait_run(app.runtime.db, timeout=40)
    assert run.status == "succeeded", run.error
    assert "Total: 42" in replies(chat.platform, event, 3)
    assert record.calls()[0]["args"] == {"a": 40, "b": 2}
    called = details(audit_rows(app.runtime.db, "mcp.called")[-1])
    assert called["via"] == "workflow" and called["tool"] == "add"


def test_an_mcp_step_runs_with_the_triggering_users_rights(bot):
    app, chat, record = bot
    chat.send("/workflow sum-up x=1", user="rn")
    run = wait_run(app.runtime.db, timeout=40)
    assert run.status == "failed" and "mcp:files:add" in run.error
    assert steps(app.runtime.db, run.id)[0] == ("total", "failed")
    assert details(audit_rows(app.runtime.db, "mcp.denied")[-1])["via"] == "workflow"
    assert record.calls() == []


def test_an_mcp_step_for_a_tool_needing_approval_is_refused(bot):
    app, chat, record = bot
    save(app.runtime.db, "name: wipe\nsteps:\n  - {name: rm, kind: mcp, server: files, tool: delete_file, "
                         "args: {path: /tmp/z}}\n")
    chat.send("/workflow wipe", user="sm")
    run = wait_run(app.runtime.db, timeout=40)
    assert run.status == "failed" and "needs an approval" in run.error
    assert record.calls() == []


@pytest.mark.parametrize("step,field", [
    ("{name: a, kind: mcp, server: Files!, tool: add}", "steps[0].server"),
    ("{name: a, kind: mcp, server: files, tool: 'a b'}", "steps[0].tool"),
    ("{name: a, kind: mcp, server: files}", "steps[0].tool"),
    ("{name: a, kind: mcp, server: files, tool: add, args: [1, 2]}", "steps[0].args"),
    ("{name: a, kind: mcp, server: files, tool: add, args: {a: '{{ steps.b.output }}'}}", "steps[0].args.a"),
])
def test_a_malformed_mcp_step_is_refused_when_saved(step, field):
    with pytest.raises(DefinitionError) as caught:
        load(f"name: bad\nsteps:\n  - {step}\n", WorkflowSettings())
    assert caught.value.field == field
