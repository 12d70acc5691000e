"""/mcp under gunicorn with two workers: a session begun on one worker is served by the other (the
sessions live in the database), and the SDK's client works end to end."""
from __future__ import annotations

import requests

from tests.support.admin_api import AdminApi
from tests.support.executor import add_command, audit_rows
from tests.support.mcp_sdk_client import sdk


def test_sessions_are_served_by_every_worker_and_the_sdk_works_under_gunicorn(gunicorn_app, make_config):
    from smartbot.storage.db import Database

    config = make_config(mcp={"serve": True})
    app = gunicorn_app(config, workers=2)
    db = Database(config["database_url"])
    try:
        admin = AdminApi(app, db=db)
        add_command(db, "echo", ["/bin/echo", "{text}"], params=[{"name": "text", "type": "regex", "pattern": "[a-z]+"}])
        token = admin.post("/tokens", {"name": "ci"}).json()["token"]
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        init = requests.post(app.url + "/mcp", headers=headers, timeout=10, json={
            "jsonrpc": "2.0", "id": 0, "method": "initialize",
            "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}})
        session = init.headers["Mcp-Session-Id"]
        for n in range(12):         # a new connection each time: both workers answer some of them
            answer = requests.post(app.url + "/mcp", headers={**headers, "Mcp-Session-Id": session}, timeout=10,
                                   json={"jsonrpc": "2.0", "id": n + 1, "method": "ping"})
            assert answer.status_code == 200, answer.text

        async def work(s):
            return await s.call_tool("command_echo", {"text": "gunicorn"})

        said = sdk(app, token, work)
        assert not said.isError and "gunicorn" in said.content[0].text
        assert [r.actor for r in audit_rows(db, "mcp.served_call")] == ["admin:root"]
    finally:
        db.dispose()
