"""The "Workflows & runs" admin page, driven over HTTP with its own forms: a workflow saved, run
and shown with its step states; a bad YAML or a sandbox escape refused with the field named."""
from __future__ import annotations

import html

from smartbot.auth.accounts import create_admin
from tests.support.executor import audit_rows
from tests.support.workflows import wait_run
from tests.support.admin_page import AdminPage
from tests.support.api_client import ADMIN_PASSWORD as PASSWORD

HELLO = "name: hello\ndescription: greets\nsteps:\n  - {name: greet, kind: condition, when: \"args.who == 'me'\", " \
        "then: stop}\n"


def test_a_workflow_is_saved_run_and_shown_with_its_steps(live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    browser = AdminPage(app.url, "root", PASSWORD)
    assert "Saved." in browser.post("/admin/workflows", {"yaml": HELLO}).text
    assert "Run #1 of hello started." in browser.post("/admin/workflows/hello/run", {"args": "who=me"}).text
    run = wait_run(app.runtime.db)
    assert run.status == "stopped" and run.triggered_by == "admin:root"
    page = html.unescape(browser.get("/admin/workflows").text)
    assert 'id="workflow-hello"' in page and f'id="run-{run.id}"' in page
    assert '<code>greet</code> (condition): <span class="state ok">succeeded</span>' in page
    assert "stopped by condition greet" in page
    refused = html.unescape(browser.post("/admin/workflows/hello", {"yaml": HELLO.replace(
        "then: stop", "then: stop}\n  - {name: x, kind: message, text: \"{{ ''.__class__ }}\"")}).text)
    assert "steps[1].text: template reaches for Python internals" in refused
    bad_kind = browser.post("/admin/workflows", {"yaml": "name: b\nsteps:\n  - {name: a, kind: nope}\n"})
    assert "steps[0].kind" in html.unescape(bad_kind.text)
    made = browser.post("/admin/schedules", {"workflow": "hello", "cron": "0 6 * * *", "args": "who=me"})
    assert "Saved." in made.text
    assert 'id="schedule-1"' in browser.get("/admin/workflows").text
    db = app.runtime.db
    assert len(audit_rows(db, "workflow.created")) == 1 and len(audit_rows(db, "schedule.created")) == 1
