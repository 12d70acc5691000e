"""Attacks through workflow schedules: a holder of `admin:workflows` tries to run something as
someone with more rights (the admin) and read the output in its own chat.

A schedule runs as its creator, or as a named owner whose every right the creator holds; the
run-as user's `workflow:run:<name>` is checked when the schedule is saved and again when each run
starts. Commands inside the run are checked against that same user, and the audit names them.
"""
from __future__ import annotations

import html
import time

import pytest
import sqlalchemy as sa

from smartbot.storage.tables import Role
from tests.security.conftest import PASSWORD
from tests.support.admin_page import AdminPage
from tests.support.executor import add_command, script
from tests.support.waiting import wait_until
from tests.support.workflows import save, wait_run

SECRET = "SIGNING-KEY-CANARY-9d1e77"
MANAGER = ["admin:login", "admin:workflows", "workflow:run:*", "chat"]
DIAG = f"""\
name: diag
steps:
  - {{name: dump, kind: command, command: keyprint}}
  - {{name: tell, kind: message, text: "{{{{ steps.dump.output }}}}"}}
"""
HELLO = "name: hello\nsteps:\n  - {name: say, kind: message, text: \"hello from {{ user.name }}\"}\n"


@pytest.fixture
def site(target, fake_platform):
    """root (the admin), wendy (a workflow manager), a command that prints the "signing key" (only
    the admin may run it) and a workflow `diag` the admin made that posts that output to its chat."""
    t = target()
    t.platform = fake_platform
    t.root_id = t.add_user("root", ["admin"])
    t.add_user("wendy", [], permissions=MANAGER)
    add_command(t.db, "keyprint", [script(f"print({SECRET!r})")])
    save(t.db, DIAG)
    save(t.db, HELLO)
    return t


def _runs(t) -> list:
    with t.db.read() as conn:
        return conn.execute(sa.text("SELECT * FROM workflow_runs ORDER BY id")).all()


def _fire_everything(t) -> None:
    """The clock reaches every schedule's firing time."""
    with t.db.write() as conn:
        conn.execute(sa.text("UPDATE schedules SET next_run_at = 1"))


def _leaked(t) -> list:
    return [r for r in t.platform.received if SECRET in (r.get("json") or {}).get("text", "")]


def test_workflow_manager_cannot_schedule_a_command_as_the_admin_into_its_own_chat(site):
    t = site
    api, since = t.login("wendy"), t.last_seq()
    resp = api.post("/schedules", {"workflow": "diag", "cron": "0 3 * * *", "owner": "root",
                                   "channel": "generic", "chat_id": "wendy-room"})
    assert resp.status_code == 403, resp.text
    reason = resp.json()["error"]
    assert "'*'" in reason and "root" in reason
    assert api.get("/schedules").json()["schedules"] == []
    denied = [r for r in t.audit("delegation.denied", since) if r["actor"] == "admin:wendy"]
    assert len(denied) == 1 and denied[0]["details"]["reason"] == reason
    _fire_everything(t)
    time.sleep(1.5)                      # several maintenance ticks: nothing may fire
    assert _runs(t) == [] and t.audit("command.ran", since) == [] and _leaked(t) == []


def test_workflow_manager_cannot_repoint_the_admins_schedule_to_its_chat(site):
    t = site
    root = t.login("root")
    made = root.post("/schedules", {"workflow": "diag", "cron": "0 3 * * *", "channel": "generic",
                                    "chat_id": "root-room"})
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    api, since = t.login("wendy"), t.last_seq()
    resp = api.patch(f"/schedules/{sid}", {"chat_id": "wendy-room"})
    assert resp.status_code == 403 and "'*'" in resp.json()["error"], resp.text
    assert api.patch(f"/schedules/{sid}", {"workflow": "hello"}).status_code == 403
    assert api.get(f"/schedules/{sid}").json()["chat_id"] == "root-room"
    assert len(t.audit("delegation.denied", since)) == 2


def test_workflow_manager_cannot_put_a_command_it_may_not_run_in_a_workflow(site):
    t = site
    api, since = t.login("wendy"), t.last_seq()
    sneaky = DIAG.replace("name: diag", "name: sneaky")
    resp = api.post("/workflows", {"yaml": sneaky})
    assert resp.status_code == 403 and "'command:run:keyprint'" in resp.json()["error"], resp.text
    # nor smuggle it into the admin's scheduled workflow
    swapped = HELLO.replace("steps:\n", "steps:\n  - {name: dump, kind: command, command: keyprint}\n")
    assert api.patch("/workflows/hello", {"yaml": swapped}).status_code == 403
    assert api.call("POST", "/workflows/import", data=sneaky,
                    headers={"Content-Type": "application/yaml"}).status_code == 403
    assert api.get("/workflows/sneaky").status_code == 404
    assert len(t.audit("delegation.denied", since)) == 3


def test_a_schedule_without_an_owner_runs_as_its_creator_and_its_commands_are_checked_as_them(site):
    t = site
    api, since = t.login("wendy"), t.last_seq()
    made = api.post("/schedules", {"workflow": "diag", "cron": "0 3 * * *", "channel": "generic",
                                   "chat_id": "wendy-room"})
    assert made.status_code == 201, made.text
    _fire_everything(t)
    run = wait_run(t.db)
    assert run.status == "failed" and "command:run:keyprint" in run.error
    started = t.audit("workflow_run.started", since)
    assert len(started) == 1 and started[0]["details"]["as"] == "admin:wendy"
    denied = t.audit("command.denied", since)
    assert len(denied) == 1 and denied[0]["actor"] == "admin:wendy"
    assert t.audit("command.ran", since) == [] and _leaked(t) == []


def test_a_schedule_may_run_as_an_owner_the_creator_covers_and_the_audit_names_that_owner(site):
    t = site
    t.add_user("olga", [], password=None, permissions=["workflow:run:hello"])
    api, since = t.login("wendy"), t.last_seq()
    made = api.post("/schedules", {"workflow": "hello", "cron": "0 3 * * *", "owner": "olga",
                                   "channel": "generic", "chat_id": "olga-room"})
    assert made.status_code == 201, made.text
    _fire_everything(t)
    run = wait_run(t.db)
    assert run.status == "succeeded", run.error
    assert t.audit("workflow_run.started", since)[0]["details"]["as"] == "admin:olga"
    assert wait_until(lambda: any((r.get("json") or {}).get("text") == "hello from olga"
                                  for r in t.platform.received), 10)


def test_a_schedule_is_refused_when_saved_for_a_user_who_may_not_run_the_workflow(site):
    t = site
    t.add_user("gus", ["guest"], password=None)
    root, since = t.login("root"), t.last_seq()
    resp = root.post("/schedules", {"workflow": "hello", "cron": "0 3 * * *", "owner": "gus"})
    assert resp.status_code == 403 and "workflow:run:hello" in resp.json()["error"], resp.text
    assert len(t.audit("delegation.denied", since)) == 1


def test_a_schedule_whose_owner_lost_workflow_run_is_refused_at_run_start_and_audited(site):
    t = site
    t.add_user("olga", [], password=None, permissions=["workflow:run:hello"])
    root = t.login("root")
    made = root.post("/schedules", {"workflow": "hello", "cron": "0 3 * * *", "owner": "olga",
                                    "channel": "generic", "chat_id": "olga-room"})
    assert made.status_code == 201, made.text
    sid = made.json()["id"]
    since = t.last_seq()
    with t.db.write() as conn:              # later, olga's right to run it is taken away
        conn.execute(sa.update(Role.__table__).where(Role.__table__.c.name == "olga-role").values(permissions=["chat"]))
    _fire_everything(t)
    assert wait_until(lambda: t.audit("workflow.denied", since), 10)
    denied = t.audit("workflow.denied", since)[0]
    assert denied["actor"] == f"schedule:{sid}" and "workflow:run:hello" in denied["details"]["reason"]
    assert denied["details"]["as"] == "admin:olga"
    time.sleep(0.5)
    assert _runs(t) == [] and not any("hello from" in (r.get("json") or {}).get("text", "")
                                      for r in t.platform.received)
    # the admin can still switch the orphaned schedule off, but not back on while olga may not run it
    assert root.patch(f"/schedules/{sid}", {"enabled": False}).status_code == 200
    assert root.patch(f"/schedules/{sid}", {"enabled": True}).status_code == 403


def test_workflow_manager_cannot_schedule_as_the_admin_on_the_page(site):
    t = site
    page, since = AdminPage(t.url, "wendy", PASSWORD), t.last_seq()
    resp = page.post("/admin/schedules", {"workflow": "diag", "cron": "0 3 * * *", "owner": "root",
                                          "channel": "generic", "chat_id": "wendy-room"})
    shown = html.unescape(resp.text)
    assert resp.status_code == 200 and "you may not" in shown and "'*'" in shown and "Saved." not in shown
    assert t.login("wendy").get("/schedules").json()["schedules"] == []
    assert len(t.audit("delegation.denied", since)) == 1
