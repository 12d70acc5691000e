"""The MCP servers page in a real Chromium against the app under gunicorn (two workers): an admin
adds a Streamable HTTP server (an SDK server on loopback), tests it, changes its tools, is refused
a host outside [mcp] client_hosts, and deletes it; a server of smartbot.toml stays read-only. In
English and Chinese, with screenshots in tests/screenshots/."""
from __future__ import annotations

import pytest

from tests.support.admin_site import AdminSite
from tests.support.browser import csp_violations, launched, screenshot, watch_console
from tests.support.executor import audit_rows
from tests.support.mcp_servers import McpHttpServer, Record, stdio_command


@pytest.fixture
def browser():
    with launched() as instance:
        yield instance


@pytest.fixture
def http_server():
    server = McpHttpServer()
    yield server
    server.stop()


@pytest.fixture
def site(gunicorn_app, make_config):
    running = AdminSite(gunicorn_app(make_config(mcp={"client_hosts": ["127.0.0.1"]}, mcp_servers=[
        {"name": "files", "command": stdio_command(Record()), "tools": ["echo"]}])))
    yield running
    running.close()


def _add(page, name: str, url: str, tools: str) -> None:
    form = page.locator("#new-mcp-server")
    form.locator("input[name=name]").fill(name)
    form.locator("input[name=url]").fill(url)
    form.locator("input[name=tools]").fill(tools)
    form.locator("button[type=submit]").click()
    page.wait_for_load_state()


def test_an_admin_adds_tests_changes_and_deletes_a_server_on_the_page(browser, site, http_server):
    page = site.log_in(browser)
    console = watch_console(page)
    page.goto(site.url + "/admin/mcp")
    assert "from smartbot.toml (read-only)" in page.locator("#mcp-files").inner_text()
    assert page.locator("#mcp-files details").count() == 0            # nothing to edit on a file server
    assert "127.0.0.1" in page.locator("#client-hosts").inner_text()
    _add(page, "web", http_server.url, "echo, add")
    page.wait_for_selector("#mcp-web")
    assert page.locator(".flash.ok").inner_text() == "Saved."
    page.locator("#mcp-web button.test").click()
    page.wait_for_selector("text=MCP server web answered and lists 2 tools.")
    assert page.locator("#tool-web-add").count() == 1 and "mcp:web:echo" in page.locator("#mcp-web").inner_text()
    screenshot(page, "mcp-servers-en")

    _add(page, "evil", "https://evil.example.net/mcp", "")
    refused = page.locator(".flash.error").inner_text()
    assert "evil.example.net" in refused and "client_hosts" in refused and page.locator("#mcp-evil").count() == 0
    page.locator("#mcp-web details summary").click()
    edit = page.locator("#edit-web")
    edit.locator("input[name=tools]").fill("echo")
    edit.locator("textarea[name=headers_env]").fill("Authorization")
    edit.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.error")
    assert "'Authorization' is not Header = VARIABLE" in page.locator(".flash.error").inner_text()
    page.locator("#mcp-web details summary").click()
    edit.locator("input[name=tools]").fill("echo")
    edit.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.ok")
    page.locator("#mcp-web button.test").click()
    page.wait_for_selector("text=MCP server web answered and lists 1 tools.")
    assert page.locator("#tool-web-add").count() == 0

    page.goto(site.url + "/admin/mcp?lang=zh-CN")
    text = page.locator("main").inner_text()
    assert "添加服务器" in text and "在本页面添加" in text and "来自 smartbot.toml（只读）" in text
    screenshot(page, "mcp-servers-zh-CN")
    _add(page, "evil", "https://evil.example.net/mcp", "")
    assert "不在 smartbot.toml 的 mcp.client_hosts 中" in page.locator(".flash.error").inner_text()
    screenshot(page, "mcp-servers-refused-zh-CN")

    page.locator("#mcp-web details summary").click()
    page.locator("#mcp-web form.delete button").click()
    page.wait_for_selector(".flash.ok")
    assert page.locator("#mcp-web").count() == 0
    assert [len(audit_rows(site.db, f"mcp.server_{done}")) for done in ("created", "updated", "deleted")] == [1, 1, 1]
    assert len(audit_rows(site.db, "mcp.definition_refused")) == 2
    assert csp_violations(console) == [] and not [p for p in console if p.startswith("uncaught")], console
