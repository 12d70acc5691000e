"""CSV injection through the audit export: anyone can choose a login name, the audit log records
it, and an admin opens the export in a spreadsheet. A cell that starts with a formula character
must reach the spreadsheet as text."""
from __future__ import annotations

import csv
import io

import requests

FORMULA_NAMES = ['=HYPERLINK("http://x","y")', '+HYPERLINK("http://x","y")', '-2+3+cmd|" /C calc"!A0',
                 '@SUM(1+1)*cmd|" /C calc"!A0', '\t=1+1', '\r=1+1']
DANGEROUS_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _export(target) -> list[list[str]]:
    target.add_user("root", ["admin"])
    resp = target.login("root").get("/audit/export.csv")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("text/csv")
    return list(csv.reader(io.StringIO(resp.text, newline="")))


def test_login_names_that_are_spreadsheet_formulas_are_exported_as_text(target):
    app = target()
    for name in FORMULA_NAMES:
        resp = requests.post(app.url + "/api/v1/auth/login", json={"name": name, "password": "guessed wrong"},
                             timeout=15)
        assert resp.status_code == 401, resp.text
    recorded = {r["actor"] for r in app.audit("admin.login")}
    assert {f"admin:{name}" for name in FORMULA_NAMES} <= recorded      # the log itself keeps what was sent
    rows = _export(app)
    header, body = rows[0], rows[1:]
    names = [row[header.index("actor_name")] for row in body]            # the name alone, as the page shows it
    for name in FORMULA_NAMES:
        assert "'" + name in names
    dangerous = [(row[0], i, cell) for row in body for i, cell in enumerate(row) if cell.startswith(DANGEROUS_STARTS)]
    assert dangerous == []


def test_every_text_column_is_neutralised(target):
    """Any event whose actor, target or result a caller chose (chat ids, names) is exported alike."""
    from smartbot import audit

    app = target()
    with app.db.write() as conn:
        audit.record(conn, "webhook.refused", "=actor", "+target", "-result", {"@key": "=value"})
    rows = _export(app)
    header = rows[0]
    row = next(r for r in rows[1:] if r[header.index("actor")] == "'=actor")
    assert row[header.index("target")] == "'+target" and row[header.index("result")] == "'-result"
    assert row[header.index("details")] == '{"@key": "=value"}'
    assert [r for r in rows[1:] for cell in r if cell.startswith(DANGEROUS_STARTS)] == []
