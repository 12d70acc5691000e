"""SmartBot's own /mcp, used by the official MCP SDK's client with a personal API token: the tools a
user may use and no others, calls that run (or wait for approval, or are refused), tokens that stop
working, and every call in the audit log with the token's user as the actor."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from mcp import ClientSession

from smartbot.audit import actors
from smartbot.auth import api_tokens
from tests.support.admin_api import AdminApi
from tests.support.executor import add_command, add_role, audit_rows, bind, details, script
from tests.support.mcp_sdk_client import sdk


@pytest.fixture
def served(live_app, make_config):
    """The app serving /mcp, an admin, and olga: may run `echo` and `deploy` (which needs approval),
    not `wipe`; her token made by the admin."""
    app = live_app(make_config(mcp={"serve": True}))
    db = app.runtime.db
    admin = AdminApi(app)
    add_command(db, "echo", ["/bin/echo", "{text}"],
                params=[{"name": "text", "type": "regex", "pattern": "[a-z ]{1,40}", "description": "what to say"}],
                description="Say something back")
    add_command(db, "deploy", [script("print('deployed')")], needs_approval=True, description="Deploy")
    add_command(db, "wipe", [script("print('wiped')")], description="Not for olga")
    add_role(db, "mcp-user", ["command:run:echo", "command:run:deploy"])
    bind(db, "olga-chat", "olga", ["mcp-user"])
    made = admin.post("/tokens", {"name": "olga's IDE", "user": "olga", "expires_in_days": 30})
    assert made.status_code == 201, made.text
    return app, admin, made.json()


def test_the_sdk_lists_only_what_the_user_may_run_and_an_allowed_call_runs(served):
    app, _admin, made = served

    async def work(session: ClientSession) -> Any:
        listed = await session.list_tools()
        said = await session.call_tool("command_echo", {"text": "hello from mcp"})
        await session.send_ping()
        return listed, said

    listed, said = sdk(app, made["token"], work)
    tools = {t.name: t for t in listed.tools}
    assert set(tools) == {"command_echo", "command_deploy"}
    schema = tools["command_echo"].inputSchema
    assert schema["properties"]["text"]["pattern"] == "[a-z ]{1,40}" and schema["required"] == ["text"]
    assert "approval" in tools["command_deploy"].description
    assert not said.isError and "hello from mcp" in said.content[0].text
    assert said.structuredContent["status"] == "ran" and said.structuredContent["exit_code"] == 0
    db = app.runtime.db
    served_calls = audit_rows(db, "mcp.served_call")
    assert [(r.actor, details(r)["tool"], details(r)["status"]) for r in served_calls] == \
        [(actors.of_user("olga"), "command_echo", "ran")]
    ran = audit_rows(db, "command.ran")
    assert ran[0].actor == "admin:olga" and details(ran[0])["via"] == "mcp" and details(ran[0])["exit_code"] == 0


def test_calls_outside_the_users_rights_are_refused_and_audited(served):
    app, _admin, made = served

    async def work(session: ClientSession) -> Any:
        return [await session.call_tool(name, args) for name, args in (
            ("command_wipe", {}), ("command_echo", {"text": "; rm -rf /"}), ("smartbot_audit_log", {}),
            ("nothing_here", {}), ("workflow_missing", {}))]

    wiped, bad_args, audit_log, unknown, workflow = sdk(app, made["token"], work)
    assert all(r.isError for r in (wiped, bad_args, audit_log, unknown, workflow))
    assert "command:run:wipe" in wiped.content[0].text
    assert "text" in bad_args.content[0].text
    db = app.runtime.db
    assert audit_rows(db, "command.ran") == []
    denied = [details(r)["tool"] for r in audit_rows(db, "mcp.served_denied")]
    assert denied == ["command_wipe", "command_echo", "smartbot_audit_log", "nothing_here", "workflow_missing"]
    assert {r.actor for r in audit_rows(db, "mcp.served_denied")} == {"admin:olga"}
    assert details(audit_rows(db, "command.denied")[0])["permission"] == "command:run:wipe"


def test_a_command_that_needs_approval_waits_and_runs_once_approved(served):
    app, admin, made = served

    async def work(session: ClientSession) -> Any:
        return await session.call_tool("command_deploy", {})

    waiting = sdk(app, made["token"], work)
    assert not waiting.isError and waiting.structuredContent["status"] == "pending"
    approval_id = waiting.structuredContent["approval_id"]
    assert f"#{approval_id}" in waiting.content[0].text or str(approval_id) in waiting.content[0].text
    db = app.runtime.db
    assert audit_rows(db, "approval.requested")[0].actor == "admin:olga"
    assert details(audit_rows(db, "mcp.served_call")[0])["status"] == "pending"
    approved = admin.post(f"/approvals/{approval_id}/approve")
    assert approved.status_code == 200, approved.text
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        done = admin.get("/approvals?status=done").json()["approvals"]
        if done:
            break
        time.sleep(0.1)
    assert done and done[0]["id"] == approval_id and done[0]["result"]["exit_code"] == 0
    ran = audit_rows(db, "command.ran")
    assert ran[0].actor == "admin:olga" and details(ran[0])["approved_by"] == "admin:root"
    assert audit_rows(db, "reply.failed") == []
    own = sdk(app, admin.post("/tokens", {"name": "root's"}).json()["token"], work)      # nobody approves their own
    refused = admin.post(f"/approvals/{own.structuredContent['approval_id']}/approve")
    assert refused.status_code == 403, refused.text


def test_revoked_expired_and_changed_accounts_tokens_are_refused_and_audited(served):
    app, admin, made = served
    db = app.runtime.db
    assert admin.delete(f"/tokens/{made['id']}").status_code == 200
    with pytest.raises(Exception):
        sdk(app, made["token"], lambda session: session.list_tools())

    def post(token: str) -> requests.Response:
        return requests.post(app.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                             headers={"Authorization": f"Bearer {token}"}, timeout=10)

    revoked = post(made["token"])
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    short = admin.post("/tokens", {"name": "short", "user": "olga", "expires_in_days": 1}).json()
    with db.write() as conn:
        conn.exec_driver_sql(f"UPDATE api_tokens SET expires_at = {time.time() - 1} WHERE id = {short['id']}")
    assert "expired" in post(short["token"]).json()["error"]
    fresh = admin.post("/tokens", {"name": "fresh", "user": "olga"}).json()
    assert post(fresh["token"]).status_code != 401
    olga = next(u for u in admin.get("/users").json()["users"] if u["name"] == "olga")
    assert admin.patch(f"/users/{olga['id']}", {"roles": ["mcp-user", "user"]}).status_code == 200
    changed = post(fresh["token"])
    assert changed.status_code == 401 and "changed" in changed.json()["error"]
    again = admin.post("/tokens", {"name": "again", "user": "olga"}).json()
    assert post(again["token"]).status_code != 401
    assert admin.patch(f"/users/{olga['id']}", {"is_active": False}).status_code == 200
    gone = post(again["token"])
    assert gone.status_code == 401 and "disabled" in gone.json()["error"]
    reasons = {details(r)["reason"] for r in audit_rows(db, "mcp.unauthorized")}
    assert {"the API token was revoked", "the API token has expired"} <= reasons
    assert {api_tokens.CHANGED, api_tokens.GONE} <= reasons
    assert not any(made["token"] in str(details(r)) for r in audit_rows(db, "mcp.unauthorized"))


def test_an_admin_gets_the_workflows_and_the_read_only_views(served):
    app, admin, _made = served
    yaml = "name: greet\ndescription: Say hello\nsteps:\n  - {name: hi, kind: command, command: echo, args: {text: hello}}\n"
    assert admin.post("/workflows", {"yaml": yaml}).status_code == 201
    token = admin.post("/tokens", {"name": "root's agent"}).json()["token"]

    async def work(session: ClientSession) -> Any:
        listed = await session.list_tools()
        figures = await session.call_tool("smartbot_dashboard", {})
        started = await session.call_tool("workflow_greet", {"who": "world"})
        log = await session.call_tool("smartbot_audit_log", {"action": "api_token.*", "limit": 5})
        bad = await session.call_tool("smartbot_audit_log", {"since": "yesterday"})
        return listed, figures, started, log, bad

    listed, figures, started, log, bad = sdk(app, token, work)
    names = {t.name for t in listed.tools}
    assert {"command_echo", "command_deploy", "command_wipe", "workflow_greet", "smartbot_dashboard",
            "smartbot_audit_log"} <= names
    assert not figures.isError and "inbox" in figures.structuredContent
    assert not started.isError and started.structuredContent["status"] == "started"
    run_id = started.structuredContent["run_id"]
    deadline = time.monotonic() + 15
    while admin.get(f"/workflow-runs/{run_id}").json()["status"] not in ("succeeded", "failed"):
        assert time.monotonic() < deadline
        time.sleep(0.1)
    assert admin.get(f"/workflow-runs/{run_id}").json()["status"] == "succeeded"
    actions = [e["action"] for e in log.structuredContent["events"]]
    assert actions and set(actions) == {"api_token.created"}
    assert bad.isError and "since" in bad.content[0].text
    assert [details(r)["tool"] for r in audit_rows(app.runtime.db, "mcp.served_call")] == \
        ["smartbot_dashboard", "workflow_greet", "smartbot_audit_log", "smartbot_audit_log"]
