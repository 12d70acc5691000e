"""The audit log on the admin page over HTTP: details as JSON, one name per person whatever the
rows call them (without touching the rows or their chain), a filter by result, a CSV export with
ISO 8601 UTC times and the page's filters, and a 400 for filter values that are not valid."""
from __future__ import annotations

import ast
import csv
import html
import io
import json
import re
import time
from datetime import datetime
from pathlib import Path

import pytest
import sqlalchemy as sa

from smartbot import audit
from smartbot.audit import AuditEvent
from smartbot.audit.events import RESULTS
from tests.support.admin_page import PASSWORD, admin_of
from tests.support.executor import bind

PACKAGE = Path(__file__).resolve().parents[2] / "smartbot"


@pytest.fixture
def site(live_app, make_config):
    app = live_app(make_config())
    return app, admin_of(app)


def _rows(page_html: str) -> dict[int, str]:
    return {int(seq): row for seq, row in re.findall(r'<tr id="event-(\d+)">(.*?)</tr>', page_html, re.S)}


def _actor(row: str) -> str:
    """The name the row's actor cell shows."""
    return html.unescape(re.search(r'<td class="actor"><span class="who[^"]*" title="[^"]*">(.*?)</span>', row).group(1))


def test_details_are_shown_as_indented_json_with_markup_escaped(site):
    app, page = site
    page.post("/admin/users", {"name": "carol", "display_name": "<script>alert(1)</script>"})
    shown = page.get("/admin/audit?action=user.create").text
    escaped = re.search(r'<pre class="json">(.*?)</pre>', shown, re.S).group(1)
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in escaped and "<script>alert" not in shown
    details = html.unescape(escaped)
    assert details.startswith('{\n  "after": {\n    "display_name": "<script>alert(1)</script>",\n')
    assert json.loads(details)["after"]["name"] == "carol"              # JSON, not a Python repr


def test_one_person_has_one_name_whatever_the_rows_call_them(site):
    app, page = site
    db = app.runtime.db
    with db.write() as conn:                    # root's phone, and rows as older versions and other places wrote them
        conn.execute(sa.text("INSERT INTO identities (channel, platform_user_id, user_id, display_name, created_at) "
                             "SELECT 'generic', 'u-5', id, 'phone', 0 FROM users WHERE name = 'root'"))
        for actor in ("root", "user:root", "admin:root", "cli:root", "generic:u-5", "system", "schedule:4", "cli"):
            audit.record(conn, "conversation.reset", actor, "generic:c:u-5")
    shown = page.get("/admin/audit?action=conversation.reset").text
    names = [_actor(row) for _, row in sorted(_rows(shown).items())]
    assert names == ["root"] * 5 + ["SmartBot (system)", "schedule #4", "the command line"]
    assert '<small class="muted">generic:u-5</small>' in shown                  # the identity beside the name
    assert 'title="user:root"' in shown and 'title="cli"' in shown              # and the row's own words
    zh = page.get("/admin/audit?action=conversation.reset&lang=zh-CN").text
    assert [_actor(row) for _, row in sorted(_rows(zh).items())][5:] == ["系统", "定时计划 #4", "命令行"]
    mine = page.get("/admin/audit?actor=root").text
    assert {_actor(row) for row in _rows(mine).values()} == {"root"}
    assert len(_rows(mine)) == 5 + 1                                            # and root's login
    assert "intact" in page.get("/admin/audit?verify=1&lang=en").text          # nothing was rewritten


def test_new_rows_name_an_admin_one_way(site):
    app, page = site
    page.post("/admin/users", {"name": "dora"})
    actors = {row.actor for row in _all_rows(app)}
    assert actors == {"admin:root", "cli"}          # create-admin, the login, the change


def _all_rows(app) -> list:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT * FROM audit_log WHERE action NOT IN ('config.provisioned') "
                                    "ORDER BY seq")).all()


def test_a_bound_chat_user_is_shown_by_the_users_name(site):
    app, page = site
    db = app.runtime.db
    bind(db, "u-5", "li", ["user"], channel="webchat")
    with db.write() as conn:
        audit.record(conn, "conversation.reset", "webchat:u-5", "webchat:u-5:u-5")
    row = list(_rows(page.get("/admin/audit?action=conversation.reset").text).values())[0]
    assert _actor(row) == "li" and "webchat:u-5" in row


def test_the_result_filter_shows_one_result(site):
    app, page = site
    with app.runtime.db.write() as conn:
        audit.record(conn, "conversation.reset", "system", "a", "denied")
        audit.record(conn, "conversation.reset", "system", "b", "error")
    denied = _rows(page.get("/admin/audit?result=denied").text)
    assert len(denied) == 1 and all('<td class="result"><span class="state bad">denied</span>' in r
                                    for r in denied.values())
    errors = page.get("/admin/audit?result=error&hours=1").text
    assert len(_rows(errors)) == 1 and '<option value="error" selected>' in errors


@pytest.mark.parametrize("query", ["result=bogus", "result=ok%27%20OR%201%3D1", "hours=nan", "hours=-1",
                                   "hours=1e23", "hours=" + "9" * 24, "hours=abc", "hours=0", "before_seq=nan",
                                   "before_seq=-1", "before_seq=1e23", "action=rule.%25", "action=a%27b",
                                   "actor=" + "x" * 201])
def test_filter_values_that_are_not_valid_are_a_400(site, query):
    app, page = site
    for path in ("/admin/audit?", "/admin/audit/export.csv?"):
        if path.endswith("csv?") and query.startswith("before_seq"):
            continue                             # the export has no pages
        resp = page.get(path + query)
        assert resp.status_code == 400, (path, query, resp.text[:300])
        assert 'class="bad"' in resp.text


def test_the_csv_has_iso_utc_times_names_and_the_pages_filters(site):
    app, page = site
    db = app.runtime.db
    now = time.time()
    with db.write() as conn:
        audit.record_all(conn, [AuditEvent("rule.create", "admin:root", "rule:old", "ok", {}, ts=now - 3 * 3600),
                                AuditEvent("rule.create", "admin:root", "rule:new", "ok", {"n": 1}, ts=now - 60),
                                AuditEvent("rule.delete", "admin:root", "rule:gone", "denied", {}, ts=now - 60)])
    listed = page.get("/admin/audit?action=rule.*&hours=2&result=ok").text
    link = html.unescape(re.search(r'href="([^"]+)" id="export"', listed).group(1))
    assert link.startswith("/admin/audit/export.csv?") and "hours=2" in link and "result=ok" in link
    exported = page.get(link)
    assert exported.headers["Content-Type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["target"] for r in rows] == ["rule:new"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", rows[0]["ts"])
    assert abs(datetime.fromisoformat(rows[0]["ts"].replace("Z", "+00:00")).timestamp() - (now - 60)) < 0.001
    assert rows[0]["actor"] == "admin:root" and rows[0]["actor_name"] == "root" and rows[0]["details"] == '{"n": 1}'
    everything = list(csv.DictReader(io.StringIO(page.get("/admin/audit/export.csv").text)))
    assert [r["seq"] for r in everything] == sorted((r["seq"] for r in everything), key=int)   # oldest first
    assert {"rule:old", "rule:new", "rule:gone"} <= {r["target"] for r in everything}


def test_the_api_export_has_the_same_times_and_takes_a_result(site):
    from tests.support.api_client import login
    app, page = site
    api = login(app.url, "root", PASSWORD)
    rows = list(csv.DictReader(io.StringIO(api.get("/audit/export.csv?result=ok").text)))
    assert rows and all(r["result"] == "ok" and r["ts"].endswith("Z") for r in rows)
    assert api.get("/audit?result=bogus").status_code == 422


def _written_results() -> set[str]:
    """Every result the code writes as a literal: the `result` argument of audit.record and
    AuditEvent, and the results a message's Outcome carries into its audit row."""
    found: set[str] = set()
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            value = None
            position = {"audit.record": 4, "record": 4, "AuditEvent": 3}.get(name)
            if position is not None and len(node.args) > position:
                value = node.args[position]
            for keyword in node.keywords:
                if keyword.arg == "result" and name in ("audit.record", "AuditEvent", "Outcome"):
                    value = keyword.value
            if value is not None:
                found |= {n.value for n in ast.walk(value) if isinstance(n, ast.Constant) and isinstance(n.value, str)}
    return found


def test_every_result_the_code_writes_can_be_filtered_on():
    written = _written_results()
    assert {"ok", "denied", "refused", "error", "expired", "firing"} <= written, "the scan is broken"
    assert sorted(written - set(RESULTS)) == []
