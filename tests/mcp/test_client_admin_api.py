"""/api/v1/mcp/servers: each configured MCP server's state (connected, tools with the permission
each needs, last error) and the connection test, against a real SDK server; audited; admin:mcp only."""
from __future__ import annotations

from tests.support.admin_api import AdminApi
from tests.support.api_client import ADMIN_PASSWORD, Api, login
from tests.support.executor import audit_rows, details
from tests.support.mcp_servers import McpHttpServer, Record, stdio_command


def test_servers_are_listed_with_their_tools_and_can_be_tested(live_app, make_config):
    record = Record()
    http = McpHttpServer()
    try:
        app = live_app(make_config(mcp_servers=[
            {"name": "files", "command": stdio_command(record), "tools": ["echo", "delete_file"],
             "needs_approval": ["delete_file"]},
            {"name": "web", "url": http.url},
            {"name": "broken", "command": ["/no/such/server"]}]))
        api = AdminApi(app)
        listed = {s["name"]: s for s in api.get("/mcp/servers").json()["servers"]}
        assert set(listed) == {"files", "web", "broken"} and not listed["files"]["connected"]
        tested = api.post("/mcp/servers/files/test").json()
        assert tested["ok"] and tested["server"]["connected"]
        tools = {t["name"]: t for t in tested["server"]["tools"]}
        assert sorted(tools) == ["delete_file", "echo"]
        assert tools["echo"]["permission"] == "mcp:files:echo" and tools["delete_file"]["needs_approval"]
        assert api.post("/mcp/servers/web/test").json()["ok"]
        web = {s["name"]: s for s in api.get("/mcp/servers").json()["servers"]}["web"]
        assert web["connected"] and "grow" in [t["name"] for t in web["tools"]]
        broken = api.post("/mcp/servers/broken/test").json()
        assert not broken["ok"] and "not installed" in broken["error"]
        assert "not installed" in {s["name"]: s for s in api.get("/mcp/servers").json()["servers"]}["broken"][
            "last_error"]
        missing = api.post("/mcp/servers/nope/test")
        assert missing.status_code == 404 and "nope" in missing.json()["error"]
        tests = [details(r) for r in audit_rows(app.runtime.db, "mcp.tested")]
        assert [t["error"] == "" for t in tests] == [True, True, False]
        assert record.calls() == []                         # a test lists and pings; it calls no tool
    finally:
        http.stop()


def test_the_servers_api_needs_admin_mcp(live_app, make_config):
    app = live_app(make_config())
    api = AdminApi(app)
    assert api.get("/mcp/servers").json() == {"servers": []}
    with app.runtime.db.write() as conn:
        conn.exec_driver_sql("UPDATE roles SET permissions = '[\"admin:login\", \"admin:commands\"]' "
                             "WHERE name = 'admin'")
    limited = Api(app.url, login(app.url, "root", ADMIN_PASSWORD).token)
    resp = limited.get("/mcp/servers")
    assert resp.status_code == 403 and "admin:mcp" in resp.json()["error"]
