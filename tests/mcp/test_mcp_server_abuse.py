"""/mcp and /api/v1/tokens under attack: every malformed, foreign or unauthorised request gets a
clear status and reason (never a 500), refusals are audited, and a token never leaks or widens."""
from __future__ import annotations

import json
from typing import Any

import pytest
import requests

from smartbot.auth import api_tokens
from tests.support.admin_api import AdminApi
from tests.support.api_client import login
from tests.support.executor import add_command, add_role, audit_rows, bind, details

PING = {"jsonrpc": "2.0", "id": 1, "method": "ping"}
INIT = {"jsonrpc": "2.0", "id": 0, "method": "initialize",
        "params": {"protocolVersion": "2025-06-18", "capabilities": {}, "clientInfo": {"name": "t", "version": "1"}}}


class Raw:
    """/mcp spoken by hand, to send what no SDK would."""

    def __init__(self, app: Any, token: str) -> None:
        self.url = app.url + "/mcp"
        self.token = token
        self.session = ""

    def send(self, body: Any = None, *, method: str = "POST", data: bytes | None = None,
             headers: dict[str, str] | None = None, session: str | None = None) -> requests.Response:
        sent = {"Authorization": f"Bearer {self.token}", "Content-Type": "application/json",
                "Accept": "application/json, text/event-stream"}
        sid = self.session if session is None else session
        if sid:
            sent["Mcp-Session-Id"] = sid
        sent.update(headers or {})
        payload = data if data is not None else (json.dumps(body).encode() if body is not None else None)
        return requests.request(method, self.url, data=payload, headers=sent, timeout=10)

    def initialize(self) -> requests.Response:
        answer = self.send(INIT, session="")
        self.session = answer.headers.get("Mcp-Session-Id", "")
        return answer


@pytest.fixture
def setup(live_app, make_config):
    app = live_app(make_config(mcp={"serve": True}))
    db = app.runtime.db
    admin = AdminApi(app)
    add_command(db, "echo", ["/bin/echo", "{text}"], params=[{"name": "text", "type": "regex", "pattern": "[a-z]+"}])
    add_role(db, "echoer", ["command:run:echo"])
    bind(db, "olga-chat", "olga", ["echoer"])
    token = admin.post("/tokens", {"name": "t", "user": "olga"}).json()["token"]
    return app, admin, token


def test_off_by_default_with_the_reason(live_app, make_config):
    app = live_app(make_config())
    for method in ("GET", "POST", "DELETE"):
        answer = requests.request(method, app.url + "/mcp", json=PING, timeout=10)
        assert answer.status_code == 404 and "[mcp] serve = true" in answer.json()["error"]


def test_missing_malformed_and_unknown_tokens_are_401_and_audited(setup):
    app, _admin, token = setup
    cases = {"": "no API token", "Bearer": "no API token", "Basic b2xnYTpwdw==": "no API token",
             "Bearer sbt_short": "malformed", "Bearer " + token + "x": "malformed",
             "Bearer " + api_tokens.new_token(): "not known"}
    for header, said in cases.items():
        answer = requests.post(app.url + "/mcp", json=PING, headers={"Authorization": header} if header else {},
                               timeout=10)
        assert answer.status_code == 401 and said in answer.json()["error"], (header, answer.text)
        assert answer.headers["WWW-Authenticate"].startswith("Bearer")
    rows = audit_rows(app.runtime.db, "mcp.unauthorized")
    assert {details(r)["reason"] for r in rows} == {api_tokens.MISSING, api_tokens.MALFORMED, api_tokens.UNKNOWN}
    assert all(r.result == "refused" and token[4:20] not in r.details for r in rows)


def test_a_browser_origin_is_refused_unless_allowed(live_app, make_config):
    """DNS rebinding: a page at evil.example, its name pointed at 127.0.0.1, sends a Host and an
    Origin that agree with each other; only an Origin the operator listed gets through."""
    app = live_app(make_config(mcp={"serve": True, "allowed_origins": ["https://ide.example.com"]}))
    token = AdminApi(app).post("/tokens", {"name": "t"}).json()["token"]
    raw = Raw(app, token)
    host = app.url.removeprefix("http://")
    for origin in ("http://evil.example", "null", app.url, "https://ide.example.com.evil.example"):
        answer = raw.send(INIT, headers={"Origin": origin, "Host": host})
        assert answer.status_code == 403 and "allowed_origins" in answer.json()["error"], origin
    assert "Origin" in details(audit_rows(app.runtime.db, "mcp.unauthorized")[0])["reason"]
    assert raw.send(INIT, headers={"Origin": "https://ide.example.com"}).status_code == 200
    assert raw.send(INIT).status_code == 200


def test_malformed_messages_get_json_rpc_errors_never_a_500(setup):
    app, _admin, token = setup
    raw = Raw(app, token)
    assert raw.initialize().status_code == 200 and raw.session
    huge = b'{"jsonrpc": "2.0", "id": 1, "method": "ping", "params": {"x": "' + b"a" * 1_100_000 + b'"}}'
    cases = [
        (raw.send(data=huge), 413, None),
        (raw.send(data=b"{not json"), 400, -32700),
        (raw.send(data=b"[" * 500 + b"]" * 500), 400, -32700),
        (raw.send([PING, PING]), 400, -32600),
        (raw.send({"id": 1, "method": "ping"}), 400, -32600),
        (raw.send({"jsonrpc": "2.0", "id": True, "method": "ping"}), 400, -32600),
        (raw.send({"jsonrpc": "2.0", "id": 1, "method": 7}), 400, -32600),
        (raw.send({"jsonrpc": "2.0", "id": 1, "method": "ping", "params": [1]}), 400, -32602),
        (raw.send({"jsonrpc": "2.0", "id": 1, "method": "resources/list"}), 200, -32601),
        (raw.send({"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "command_echo",
                                                                               "arguments": ["a"]}}), 200, -32602),
        (raw.send({"jsonrpc": "2.0", "id": 3, "method": "tools/call", "params": {"arguments": {}}}), 200, -32602),
        (raw.send(data=b"text", headers={"Content-Type": "text/plain"}), 415, None),
        (raw.send(PING, headers={"MCP-Protocol-Version": "1999-01-01"}), 400, -32600),
        (raw.send(PING, headers={"MCP-Protocol-Version": "2025-03-26"}), 400, -32600),
        (raw.send({"jsonrpc": "2.0", "method": "initialize", "params": {}}), 400, -32600),
    ]
    for answer, status, code in cases:
        assert answer.status_code == status, (answer.status_code, answer.text[:200])
        body = answer.json()
        if code is None:
            assert body["error"]
        else:
            assert body["error"]["code"] == code and body["error"]["message"]
    ok = raw.send(PING, headers={"MCP-Protocol-Version": "2025-06-18"})
    assert ok.status_code == 200 and ok.json() == {"jsonrpc": "2.0", "id": 1, "result": {}}


def test_sessions_belong_to_their_token_and_end_on_delete(setup):
    app, admin, token = setup
    raw = Raw(app, token)
    assert raw.send(PING, session="").status_code == 400
    assert raw.send(PING, session="f" * 64).status_code == 404
    raw.initialize()
    assert raw.send({"jsonrpc": "2.0", "method": "notifications/initialized"}).status_code == 202
    other = Raw(app, admin.post("/tokens", {"name": "second", "user": "olga"}).json()["token"])
    assert other.send(PING, session=raw.session).status_code == 404
    assert raw.send(method="GET").status_code == 405
    assert raw.send(method="DELETE").status_code == 204
    assert raw.send(PING).status_code == 404
    assert raw.send(method="DELETE").status_code == 404


def test_token_api_refuses_what_the_caller_may_not_do(setup):
    app, admin, olga_token = setup
    db = app.runtime.db
    add_role(db, "helpdesk", ["admin:login", "admin:users"])
    created = admin.post("/users", {"name": "hana", "password": "correct horse battery", "roles": ["helpdesk"]})
    assert created.status_code == 201, created.text
    hana = login(app.url, "hana")
    assert hana.post("/tokens", {"name": "root's", "user": "root"}).status_code == 403      # holds less than root
    assert hana.post("/tokens", {"name": "olga's", "user": "olga"}).status_code == 403      # lacks command:run:echo
    assert audit_rows(db, "delegation.denied")
    own = hana.post("/tokens", {"name": "mine"})
    assert own.status_code == 201 and own.json()["token"].startswith("sbt_") and own.json()["user"] == "hana"
    listed = hana.get("/tokens").json()["tokens"]
    assert [t["name"] for t in listed] == ["mine"] and "token" not in listed[0]
    everyone = admin.get("/tokens?all=true").json()["tokens"]
    assert {t["user"] for t in everyone} == {"olga", "hana"}
    assert not any(olga_token in json.dumps(t) or api_tokens.digest(olga_token) in json.dumps(t) for t in everyone)
    olga_id = next(t["id"] for t in everyone if t["user"] == "olga")
    assert hana.delete(f"/tokens/{olga_id}").status_code == 403
    assert admin.delete(f"/tokens/{own.json()['id']}").status_code == 200
    assert admin.delete(f"/tokens/{own.json()['id']}").status_code == 409
    assert hana.delete("/tokens/99999").status_code == 404
    for bad in ({"name": ""}, {"name": "x", "expires_in_days": 0}, {"name": "x", "expires_in_days": 1e9},
                {"name": "x", "user": "nobody"}, {"name": 5}):
        answer = admin.post("/tokens", bad)
        assert answer.status_code in (404, 422) and answer.json()["error"], bad
    assert admin.get("/tokens?all=maybe").status_code == 400
    assert [r.action for r in audit_rows(db, "api_token.created")] and \
        not any("sbt_" in r.details for r in audit_rows(db, "api_token.created"))
