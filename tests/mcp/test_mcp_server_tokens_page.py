"""The admin page's API tokens section: made and shown once, listed with their state, revoked, in
English and Chinese; a refused form is a message on the page, never a 500."""
from __future__ import annotations

import re

import requests

from tests.support.admin_page import admin_of
from tests.support.executor import audit_rows, bind


def _mcp_ping(app, token: str) -> int:
    return requests.post(app.url + "/mcp", json={"jsonrpc": "2.0", "id": 1, "method": "ping"},
                         headers={"Authorization": f"Bearer {token}"}, timeout=10).status_code


def test_a_token_is_made_shown_once_listed_and_revoked_on_the_page(live_app, make_config):
    app = live_app(make_config(mcp={"serve": True}))
    bind(app.runtime.db, "o-1", "olga", ["user"])
    page = admin_of(app)
    assert "API tokens" in page.get("/admin/").text
    made = page.post("/admin/tokens", {"name": "olga's IDE", "user": "olga", "expires_in_days": "7"})
    assert made.status_code == 201 and made.headers["Cache-Control"] == "no-store"
    token = re.search(r"(sbt_[A-Za-z0-9_-]{43})", made.text).group(1)
    assert _mcp_ping(app, token) == 400          # known token: only the missing session is wrong
    listing = page.get("/admin/tokens").text
    assert token not in listing and token[:10] in listing and "olga&#39;s IDE" in listing
    token_id = re.search(r'id="token-(\d+)"', listing).group(1)
    page.post(f"/admin/tokens/{token_id}/revoke", {})
    assert "revoked" in page.get("/admin/tokens").text
    assert _mcp_ping(app, token) == 401
    assert [r.action for r in audit_rows(app.runtime.db, "api_token.revoked")] == ["api_token.revoked"]
    chinese = page.get("/admin/tokens?lang=zh-CN").text
    assert "API 令牌" in chinese and "已吊销" in chinese and "MCP" in chinese


def test_a_refused_form_is_a_message_and_the_off_switch_is_shown(live_app, make_config):
    app = live_app(make_config())
    page = admin_of(app)
    shown = page.post("/admin/tokens", {"name": "", "expires_in_days": "soon"})
    assert shown.status_code == 200 and "sbt_" not in shown.text
    assert "[mcp] serve = false" in page.get("/admin/tokens").text
    assert page.post("/admin/tokens", {"name": "x", "user": "nobody"}).status_code == 200
    assert page.post("/admin/tokens/999/revoke", {}).status_code == 200
