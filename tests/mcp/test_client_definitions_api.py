"""MCP servers added, changed and removed through /api/v1/mcp/servers (admin:mcp), against a real
SDK server over Streamable HTTP: the same checks as smartbot.toml, plus the stricter ones that keep
an admin:mcp holder from gaining more than it has (no stdio server, hosts only from [mcp]
client_hosts, no SmartBot variable in a header, no variable another server sends elsewhere).
Every change and every refusal is audited; servers of the file are read-only."""
from __future__ import annotations

import json

import pytest
import requests

from tests.support.admin_api import AdminApi
from tests.support.api_client import ADMIN_PASSWORD, Api, login
from tests.support.executor import Chat, add_role, audit_rows, bind, details, set_rule_params, text_answer, tool_call_answer
from tests.support.mcp_servers import McpHttpServer, Record, stdio_command


@pytest.fixture
def http_server():
    server = McpHttpServer()
    yield server
    server.stop()


def _servers(api: AdminApi) -> dict[str, dict]:
    return {s["name"]: s for s in api.get("/mcp/servers").json()["servers"]}


def _app(live_app, make_config, fake_model=None, hosts=("127.0.0.1",), servers=()):
    return live_app(make_config(model=fake_model, mcp={"client_hosts": list(hosts)}, mcp_servers=list(servers)))


def test_a_server_is_added_tested_changed_and_removed_and_each_change_audited(live_app, make_config, http_server,
                                                                               monkeypatch):
    monkeypatch.setenv("WEB_MCP_TOKEN", "Bearer added-31415")
    app = _app(live_app, make_config)
    api = AdminApi(app)
    made = api.post("/mcp/servers", {"name": "web", "url": http_server.url, "tools": ["echo", "add"],
                                          "headers_env": {"Authorization": "WEB_MCP_TOKEN"}, "timeout": 5})
    assert made.status_code == 201, made.text
    assert made.json()["source"] == "db" and made.json()["refresh_seconds"] == 300
    tested = api.post("/mcp/servers/web/test").json()
    assert tested["ok"] and sorted(t["name"] for t in tested["server"]["tools"]) == ["add", "echo"]
    assert any(h.get("authorization") == "Bearer added-31415" for h in http_server.headers)
    listed = _servers(api)["web"]
    assert listed["source"] == "db" and listed["definition"]["headers_env"] == {"Authorization": "WEB_MCP_TOKEN"}
    assert "added-31415" not in json.dumps(listed)                  # the variable's name, never its value
    changed = api.patch("/mcp/servers/web", {"tools": ["echo"], "needs_approval": ["echo"]})
    assert changed.status_code == 200, changed.text
    tools = api.post("/mcp/servers/web/test").json()["server"]["tools"]
    assert [(t["name"], t["needs_approval"]) for t in tools] == [("echo", True)]
    assert api.patch("/mcp/servers/web", {"name": "other"}).status_code == 422
    assert api.delete("/mcp/servers/web").json() == {"deleted": "web"}
    assert "web" not in _servers(api) and api.post("/mcp/servers/web/test").status_code == 404
    assert api.delete("/mcp/servers/web").status_code == 404
    assert [len(audit_rows(app.runtime.db, f"mcp.server_{done}")) for done in ("created", "updated", "deleted")] \
        == [1, 1, 1]
    update = details(audit_rows(app.runtime.db, "mcp.server_updated")[0])
    assert update["before"]["tools"] == ["echo", "add"] and update["after"]["tools"] == ["echo"]


def test_an_added_server_offers_its_tools_in_chat_to_holders_only(live_app, make_config, fake_model, fake_platform,
                                                                  http_server):
    app = _app(live_app, make_config, fake_model)
    db = app.runtime.db
    set_rule_params(db, "chat", {"tools": True})
    app.runtime.router.invalidate()
    add_role(db, "webber", ["chat", "mcp:web:*"])
    bind(db, "wb", "wes", ["webber"])
    add_role(db, "chatter", ["chat"])
    bind(db, "pl", "pam", ["chatter"])
    assert AdminApi(app).post("/mcp/servers", {"name": "web", "url": http_server.url,
                                                    "tools": ["add"]}).status_code == 201
    chat = Chat(app, fake_platform)
    fake_model.script({"body": tool_call_answer(("mcp__web__add", {"a": 2, "b": 3}))}, {"body": text_answer("5")})
    assert "- called web/add" in chat.say("add", user="wb")
    chat.say("hello", user="pl")
    assert not fake_model.requests[-1]["json"].get("tools") or all(
        not t["function"]["name"].startswith("mcp__") for t in fake_model.requests[-1]["json"]["tools"])
    assert [c["tool"] for c in http_server.calls()] == ["add"]


def test_servers_of_the_file_are_read_only(live_app, make_config, http_server):
    app = _app(live_app, make_config, servers=[{"name": "files", "command": stdio_command(Record())}])
    api = AdminApi(app)
    assert _servers(api)["files"]["source"] == "config"
    for resp in (api.patch("/mcp/servers/files", {"timeout": 5}), api.delete("/mcp/servers/files"),
                 api.post("/mcp/servers", {"name": "files", "url": http_server.url})):
        assert resp.status_code == 409 and "smartbot.toml" in resp.json()["error"]


def test_a_stdio_server_cannot_be_defined_through_the_api(live_app, make_config):
    app = _app(live_app, make_config)
    api = AdminApi(app)
    for body in ({"name": "sh", "command": ["/bin/sh", "-c", "id > /tmp/owned"]},
                 {"name": "py", "command": ["/usr/bin/python3", "/tmp/x.py"], "env": ["HOME"]},
                 {"name": "envy", "url": "http://127.0.0.1:1/mcp", "env": ["HOME"]}):
        resp = api.post("/mcp/servers", body)
        assert resp.status_code == 403 and "smartbot.toml" in resp.json()["error"], resp.text
    refused = [details(r) for r in audit_rows(app.runtime.db, "mcp.definition_refused")]
    assert [r["field"] for r in refused] == ["command", "command", "env"]
    assert _servers(api) == {}


@pytest.mark.parametrize("body, field, words", [
    ({"url": "https://evil.example.net/mcp"}, "url", "client_hosts"),
    ({"url": "https://169.254.169.254/latest/meta-data"}, "url", "client_hosts"),
    ({"url": "http://localhost:6379/mcp"}, "url", "client_hosts"),
    ({"headers_env": {"Authorization": "SMARTBOT_SECRET_KEY"}}, "headers_env.Authorization", "belongs to SmartBot"),
    ({"headers_env": {"X-Db": "DATABASE_URL"}}, "headers_env.X-Db", "belongs to SmartBot"),
    ({"headers_env": {"X-Key": "ANTHROPIC_API_KEY"}}, "headers_env.X-Key", "provider key"),
    ({"headers_env": {"X-Key": "LD_PRELOAD"}}, "headers_env.X-Key", "LD_PRELOAD"),
    ({"headers_env": {"X-Key": "FILES_TOKEN"}}, "headers_env.X-Key", "files"),
])
def test_refusals_for_safety_are_audited_and_store_nothing(live_app, make_config, fake_model, body, field, words):
    file_server = {"name": "files", "command": stdio_command(Record()), "env": ["FILES_TOKEN"]}
    app = _app(live_app, make_config, fake_model, servers=[file_server])
    api = AdminApi(app)
    resp = api.post("/mcp/servers", {"name": "web", "url": "http://127.0.0.1:9/mcp", **body})
    assert resp.status_code == 422 and resp.json()["field"] == field and words in resp.json()["error"], resp.text
    assert [details(r)["field"] for r in audit_rows(app.runtime.db, "mcp.definition_refused")] == [field]
    assert set(_servers(api)) == {"files"}


@pytest.mark.parametrize("body, field", [
    ({"name": "Web!"}, "name"),
    ({"name": "files__x"}, "name"),
    ({"url": "ftp://127.0.0.1/mcp"}, "url"),
    ({"url": "http://user:pw@127.0.0.1/mcp"}, "url"),
    ({"url": "http://10.0.0.5/mcp"}, "url"),
    ({"url": "http://127.0.0.1:9/mcp?api_key=sk-live-1234"}, "url"),
    ({"url": ""}, "url"),
    ({"timeout": 1e23}, "timeout"),
    ({"timeout": 0}, "timeout"),
    ({"timeout": "30"}, "timeout"),
    ({"refresh_seconds": 1e300}, "refresh_seconds"),
    ({"headers_env": {"Host": "WEB_TOKEN"}}, "headers_env.Host"),
    ({"headers_env": {"X-Key": 7}}, "headers_env"),
    ({"headers_env": {"X-Key": "not a variable"}}, "headers_env.X-Key"),
    ({"tools": ["a b"]}, "tools[0]"),
    ({"tools": ["echo"], "needs_approval": ["add"]}, "needs_approval"),
])
def test_malformed_definitions_are_refused_naming_the_field(live_app, make_config, body, field):
    app = _app(live_app, make_config)
    api = AdminApi(app)
    resp = api.post("/mcp/servers", {"name": "web", "url": "http://127.0.0.1:9/mcp", **body})
    assert resp.status_code == 422 and resp.json()["field"] == field, resp.text
    assert _servers(api) == {}


def test_nan_and_infinity_never_reach_the_definition(live_app, make_config):
    app = _app(live_app, make_config)
    api = AdminApi(app)
    for raw in ('{"name": "web", "url": "http://127.0.0.1:9/mcp", "timeout": NaN}',
                '{"name": "web", "url": "http://127.0.0.1:9/mcp", "timeout": Infinity}'):
        resp = requests.post(f"{app.url}/api/v1/mcp/servers", data=raw, timeout=10,
                             headers={"Authorization": f"Bearer {api.token}",
                                      "Content-Type": "application/json"})
        assert resp.status_code in (400, 422) and "error" in resp.json()
    assert _servers(api) == {}


def test_changing_servers_needs_admin_mcp(live_app, make_config, http_server):
    app = _app(live_app, make_config)
    AdminApi(app)
    with app.runtime.db.write() as conn:
        conn.exec_driver_sql("UPDATE roles SET permissions = '[\"admin:login\", \"admin:commands\"]' "
                             "WHERE name = 'admin'")
    limited = Api(app.url, login(app.url, "root", ADMIN_PASSWORD).token)
    for resp in (limited.post("/mcp/servers", {"name": "web", "url": http_server.url}),
                 limited.patch("/mcp/servers/web", {"timeout": 5}), limited.delete("/mcp/servers/web")):
        assert resp.status_code == 403 and "admin:mcp" in resp.json()["error"]


def test_a_stored_server_whose_host_left_the_allow_list_is_never_contacted(live_app, make_config, http_server):
    app = _app(live_app, make_config)
    AdminApi(app).post("/mcp/servers", {"name": "web", "url": http_server.url})
    app.runtime.settings.mcp.client_hosts = []          # the operator took the host out (and restarted)
    app.runtime.mcp.sync_now(reload=True)
    listed = _servers(AdminApi(app, "root2"))["web"]
    assert not listed["connected"] and "client_hosts" in listed["last_error"]
    assert app.runtime.mcp.get("web") is None and http_server.headers == []


def test_another_process_sees_a_change_within_a_second(live_app, make_config, http_server):
    from smartbot.executor.environment import own_variables
    from smartbot.executor.runner import Limits
    from smartbot.mcp.registry import McpRegistry
    from smartbot.mcp.stored import StoredServers
    from tests.support.waiting import wait_until

    app = _app(live_app, make_config)
    runtime = app.runtime
    other = McpRegistry([], {}, Limits(), lambda: own_variables(runtime.settings),
                        StoredServers(runtime.db, runtime.settings, lambda: own_variables(runtime.settings)))
    try:
        assert other.get("web") is None
        api = AdminApi(app)
        api.post("/mcp/servers", {"name": "web", "url": http_server.url, "tools": ["echo"]})
        assert wait_until(lambda: other.get("web") is not None, timeout=3)
        first = other.get("web")
        assert [t.name for t in first.tools()] == ["echo"]
        api.patch("/mcp/servers/web", {"tools": ["add"]})
        assert wait_until(lambda: other.get("web") is not first, timeout=3)
        assert first._client is None                                  # the old connection was closed
        assert [t.name for t in other.get("web").tools()] == ["add"]
        api.delete("/mcp/servers/web")
        assert wait_until(lambda: other.get("web") is None, timeout=3)
    finally:
        other.close()
