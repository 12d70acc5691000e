"""The admin page's MCP servers: each server's state and tools with the permission each needs, and
the test button, against a real SDK stdio server; in English and Chinese."""
from __future__ import annotations

from tests.support.admin_page import admin_of
from tests.support.executor import audit_rows
from tests.support.mcp_servers import Record, stdio_command


def test_the_page_lists_servers_and_tests_them(live_app, make_config):
    record = Record()
    app = live_app(make_config(mcp_servers=[
        {"name": "files", "command": stdio_command(record), "tools": ["echo", "delete_file"],
         "needs_approval": ["delete_file"]},
        {"name": "broken", "command": ["/no/such/server"]}]))
    page = admin_of(app)
    shown = page.get("/admin/mcp").text
    assert 'id="mcp-files"' in shown and 'id="mcp-broken"' in shown and "not connected" in shown
    tested = page.post("/admin/mcp/files/test", {}).text
    assert "MCP server files answered and lists 2 tools." in tested
    assert 'id="tool-files-echo"' in tested and "mcp:files:delete_file" in tested
    failed = page.post("/admin/mcp/broken/test", {}).text
    assert "MCP server broken failed: /no/such/server is not installed" in failed
    assert len(audit_rows(app.runtime.db, "mcp.tested")) == 2
    chinese = page.get("/admin/mcp?lang=zh-CN").text
    assert "MCP 服务器" in chinese and "测试连接" in chinese
