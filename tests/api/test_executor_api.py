"""The commands and approvals API: validation that names the field, config commands read-only,
every change audited with before/after, and approvals decided over HTTP but run on the workers."""
from __future__ import annotations

import requests

from smartbot.auth.accounts import create_admin
from tests.support.executor import Chat, add_command, audit_rows, bind, details, script

PASSWORD = "correct horse battery"


def _api(app, method, path, token=None, **kw):
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, app.url + "/api/v1" + path, headers=headers, timeout=10, **kw)


def _admin(app) -> str:
    create_admin(app.runtime.db, "root", PASSWORD)
    return _api(app, "POST", "/auth/login", json={"name": "root", "password": PASSWORD}).json()["access_token"]


def test_commands_crud_is_validated_and_audited(live_app, make_config):
    app = live_app(make_config())
    token = _admin(app)
    listed = _api(app, "GET", "/commands", token).json()["commands"]
    assert {"disk", "tail", "service_restart"} <= {c["name"] for c in listed}
    body = {"name": "queue_depth", "argv": ["cat", "/proc/loadavg"], "description": "demo", "timeout": 5}
    created = _api(app, "POST", "/commands", token, json=body)
    assert created.status_code == 201 and created.json()["source"] == "db"
    assert _api(app, "POST", "/commands", token, json=body).status_code == 409
    changed = _api(app, "PATCH", "/commands/queue_depth", token, json={"needs_approval": True})
    assert changed.status_code == 200 and changed.json()["needs_approval"] is True
    assert _api(app, "GET", "/commands/queue_depth", token).json()["needs_approval"] is True
    assert _api(app, "DELETE", "/commands/queue_depth", token).status_code == 200
    assert _api(app, "GET", "/commands/queue_depth", token).status_code == 404
    events = [(r.action, details(r)) for r in audit_rows(app.runtime.db, "command.created")
              + audit_rows(app.runtime.db, "command.updated") + audit_rows(app.runtime.db, "command.deleted")]
    assert [a for a, _ in events] == ["command.created", "command.updated", "command.deleted"]
    assert events[1][1]["before"]["needs_approval"] is False and events[1][1]["after"]["needs_approval"] is True
    assert events[2][1]["after"] is None and events[2][1]["before"]["name"] == "queue_depth"


def test_unsafe_or_malformed_definitions_get_422_naming_the_field(live_app, make_config):
    app = live_app(make_config())
    token = _admin(app)
    cases = [
        ({"name": "x", "argv": ["sh", "-c", "rm -rf /"]}, "argv[0]"),
        ({"name": "x", "argv": ["env", "bash"]}, "argv[0]"),
        ({"name": "x", "argv": ["ping", "host={h}"], "params": [{"name": "h", "type": "enum", "choices": ["a"]}]},
         "argv[1]"),
        ({"name": "x", "argv": ["ping", "{h}"], "params": [{"name": "h", "type": "nope"}]}, "params[0].type"),
        ({"name": "x", "argv": ["df"], "env": ["LD_PRELOAD"]}, "env[0]"),
        ({"name": "x", "argv": "df -h"}, "argv"),
        ({"name": "X Y", "argv": ["df"]}, "name"),
        ({"name": "run", "argv": ["df"]}, "name"),
        ({"name": "x", "argv": ["df"], "timeout": 0}, "timeout"),
        ({"name": "x", "argv": ["df"], "shell": True}, "shell"),
        ({"argv": ["df"]}, "name"),
    ]
    for body, field in cases:
        resp = _api(app, "POST", "/commands", token, json=body)
        assert resp.status_code == 422 and resp.json()["field"] == field, (body, resp.json())
    assert _api(app, "POST", "/commands", token, json={"name": "usage", "argv": ["df"]}).status_code == 201
    assert _api(app, "PATCH", "/commands/usage", token, json={"argv": ["bash", "-c", "df"]}).json()["field"] == "argv[0]"
    assert _api(app, "PATCH", "/commands/disk", token, json={"argv": ["bash", "-c", "df"]}).status_code == 409
    assert _api(app, "POST", "/commands", token, data="not json").status_code == 400


def test_commands_from_the_config_file_are_read_only(live_app, make_config):
    app = live_app(make_config(commands=[{"name": "queue", "argv": ["cat", "/proc/loadavg"]}]))
    token = _admin(app)
    row = _api(app, "GET", "/commands/queue", token).json()
    assert row["source"] == "config"
    resp = _api(app, "PATCH", "/commands/queue", token, json={"enabled": False})
    assert resp.status_code == 409 and "smartbot.toml" in resp.json()["error"]
    assert _api(app, "DELETE", "/commands/queue", token).status_code == 409


def test_the_catalogue_api_needs_the_admin_permission(live_app, make_config):
    app = live_app(make_config())
    _admin(app)
    assert _api(app, "GET", "/commands").status_code == 401
    with app.runtime.db.write() as conn:
        conn.exec_driver_sql("UPDATE roles SET permissions = '[\"admin:login\"]' WHERE name = 'admin'")
    token = _api(app, "POST", "/auth/login", json={"name": "root", "password": PASSWORD}).json()["access_token"]
    resp = _api(app, "POST", "/commands", token, json={"name": "x", "argv": ["df"]})
    assert resp.status_code == 403 and "admin:commands" in resp.json()["error"]
    assert _api(app, "GET", "/approvals", token).status_code == 403
    assert len(audit_rows(app.runtime.db, "api.denied")) == 2


def test_approvals_are_listed_approved_over_http_and_run_on_the_workers(live_app, make_config, fake_platform):
    app = live_app(make_config())
    token = _admin(app)
    db = app.runtime.db
    add_command(db, "deploy", [script("print('deployed')")], needs_approval=True)
    bind(db, "op", "olga", ["operator"])
    chat = Chat(app, fake_platform)
    chat.say("/deploy", user="op", chat="dev")
    chat.say("/deploy", user="op", chat="dev")
    pending = _api(app, "GET", "/approvals?status=pending", token).json()["approvals"]
    assert [a["id"] for a in pending] == [2, 1] and pending[0]["requester"] == "generic:op"
    assert _api(app, "GET", "/approvals?status=bogus", token).json()["field"] == "status"
    approved = _api(app, "POST", "/approvals/1/approve", token)
    assert approved.status_code == 200 and approved.json()["status"] in ("approved", "running", "done")
    told = chat.in_chat("dev", timeout=10)
    assert told and "deployed" in told[0]
    assert _api(app, "GET", "/approvals?status=done", token).json()["approvals"][0]["result"]["exit_code"] == 0
    assert _api(app, "POST", "/approvals/1/approve", token).status_code == 409
    assert _api(app, "POST", "/approvals/2/deny", token).json()["status"] == "denied"
    assert _api(app, "POST", "/approvals/99/deny", token).status_code == 404
    assert audit_rows(db, "approval.approved")[0].actor == "admin:root"
