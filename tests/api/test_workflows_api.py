"""The workflow admin API: create, change, delete (audited with before/after), YAML export and
import round trip, and validation errors that name the field."""
from __future__ import annotations

import requests

from tests.support.admin_api import AdminApi
from tests.support.executor import audit_rows, details
from tests.support.workflows import REPORT


def _api(live_app, make_config) -> AdminApi:
    return AdminApi(live_app(make_config(workflows={"http_allow": ["api.example.com"]})))


def test_yaml_import_export_round_trip(live_app, make_config):
    api = _api(live_app, make_config)
    url = api.app.url + "/api/v1/workflows/import"
    headers = {"Authorization": f"Bearer {api.token}", "Content-Type": "application/yaml"}
    first = requests.post(url, data=REPORT.encode(), headers=headers, timeout=10)
    assert first.status_code == 200, first.text
    exported = api.get("/workflows/disk-report/yaml")
    assert exported.status_code == 200 and exported.headers["Content-Type"].startswith("application/yaml")
    assert exported.text == REPORT
    changed = REPORT.replace("Disk usage, summarised by the model", "Changed by import")
    assert requests.post(url, data=changed.encode(), headers=headers, timeout=10).status_code == 200
    assert api.get("/workflows/disk-report").json()["description"] == "Changed by import"
    assert api.get("/workflows/disk-report/yaml").text == changed
    imported = audit_rows(api.app.runtime.db, "workflow.imported")
    assert [details(r)["before"] is None for r in imported] == [True, False]
    assert details(imported[-1])["after"]["yaml"] == changed
    empty = requests.post(url, data=b"", headers=headers, timeout=10)
    assert empty.status_code == 400
    broken = requests.post(url, data=b"name: [unclosed", headers=headers, timeout=10)
    assert broken.status_code == 422 and broken.json()["field"] == "yaml" and "line 1" in broken.json()["error"]


def test_create_update_delete_are_audited(live_app, make_config):
    api = _api(live_app, make_config)
    assert api.post("/workflows", {"yaml": REPORT}).status_code == 201
    assert api.post("/workflows", {"yaml": REPORT}).status_code == 409
    off = api.patch("/workflows/disk-report", {"enabled": False})
    assert off.status_code == 200 and off.json()["enabled"] is False
    assert api.post("/workflows/disk-report/runs", {}).status_code == 409
    renamed = api.patch("/workflows/disk-report", {"yaml": REPORT.replace("name: disk-report", "name: other")})
    assert renamed.status_code == 422 and renamed.json()["field"] == "name"
    assert api.delete("/workflows/disk-report").status_code == 200
    assert api.get("/workflows/disk-report").status_code == 404
    assert api.post("/workflows/disk-report/runs", {}).status_code == 404
    db = api.app.runtime.db
    assert [len(audit_rows(db, e)) for e in ("workflow.created", "workflow.updated", "workflow.deleted")] == [1, 1, 1]
    assert details(audit_rows(db, "workflow.updated")[0])["before"]["enabled"] is True


def _step(text: str) -> str:
    return "name: wf\nsteps:\n" + text


BAD = [
    (_step("  - {name: a, kind: command, command: disk}\n  - {name: b, kind: model, prompt: hi}\n"
           "  - {name: c, kind: shell, cmd: ls}\n"), "steps[2].kind"),
    (_step("  - {name: a, kind: model}\n"), "steps[0].prompt"),
    (_step("  - {name: a, kind: model, prompt: hi, retries: 9}\n"), "steps[0].retries"),
    (_step("  - {name: a, kind: model, prompt: hi, on_error: ignore}\n"), "steps[0].on_error"),
    (_step("  - {name: a, kind: model, prompt: hi, timeout: -1}\n"), "steps[0].timeout"),
    (_step("  - {name: a, kind: model, prompt: hi, colour: red}\n"), "steps[0].colour"),
    (_step("  - {name: a, kind: model, prompt: hi}\n  - {name: a, kind: model, prompt: hi}\n"), "steps[1].name"),
    (_step("  - {name: a, kind: http, url: 'http://evil.example.org/x'}\n"), "steps[0].url"),
    (_step("  - {name: a, kind: http, url: 'http://api.example.com/x', method: DELETE}\n"), "steps[0].method"),
    (_step("  - {name: a, kind: condition, when: 'args.x', then: explode}\n"), "steps[0].then"),
    (_step("  - {name: a, kind: message, text: hi, channel: generic}\n"), "steps[0].chat_id"),
    (_step("  - {name: a, kind: message, text: '{{ steps.a.output'}\n"), "steps[0].text"),
    (_step("  - {name: a, kind: message, text: '{{ steps.b.output }}'}\n  - {name: b, kind: model, prompt: hi}\n"),
     "steps[0].text"),
    ("name: wf\nsteps: []\n", "steps"),
    ("name: Bad Name\nsteps:\n  - {name: a, kind: model, prompt: hi}\n", "name"),
    ("- just a list\n", "yaml"),
    ("[" * 20000 + "]" * 20000, "yaml"),
    ("name: wf\nextra: 1\nsteps:\n  - {name: a, kind: model, prompt: hi}\n", "extra"),
]


def test_validation_errors_name_the_field(live_app, make_config):
    api = _api(live_app, make_config)
    for source, field in BAD:
        resp = api.post("/workflows", {"yaml": source})
        assert (resp.status_code, resp.json().get("field")) == (422, field), (source, resp.text)
    missing = api.post("/workflows", {})
    assert missing.status_code == 422 and missing.json()["field"] == "yaml"
    assert api.post("/workflows", {"yaml": REPORT}).status_code == 201
    for body, field in (({"workflow": "disk-report", "cron": "61 * * * *"}, "cron"),
                        ({"workflow": "disk-report", "cron": "* * *"}, "cron"),
                        ({"workflow": "nope", "cron": "* * * * *"}, "workflow"),
                        ({"workflow": "disk-report", "cron": "* * * * *", "owner": "nobody-here"}, "owner"),
                        ({"workflow": "disk-report", "cron": "* * * * *", "channel": "generic"}, "chat_id"),
                        ({"workflow": "disk-report", "cron": "* * * * *", "args": {"x": [1]}}, "args.x")):
        resp = api.post("/schedules", body)
        assert (resp.status_code, resp.json().get("field")) == (422, field), (body, resp.text)
    run = api.post("/workflows/disk-report/runs", {"args": {"deep": {"x": 1}}})
    assert run.status_code == 422 and run.json()["field"] == "args.deep"
    assert api.get("/workflow-runs", params={"status": "exploded"}).json()["field"] == "status"


def test_schedules_crud_is_audited(live_app, make_config):
    api = _api(live_app, make_config)
    api.post("/workflows", {"yaml": REPORT})
    made = api.post("/schedules", {"workflow": "disk-report", "cron": "0 6 * * mon-fri", "args": {"depth": 2}})
    assert made.status_code == 201 and made.json()["args"] == {"depth": "2"}
    sid = made.json()["id"]
    changed = api.patch(f"/schedules/{sid}", {"cron": "30 7 * * *", "enabled": False})
    assert changed.status_code == 200 and changed.json()["enabled"] is False
    assert changed.json()["next_run_at"] % 86400 == 7 * 3600 + 1800
    assert [s["id"] for s in api.get("/schedules").json()["schedules"]] == [sid]
    assert api.delete(f"/schedules/{sid}").status_code == 200
    assert api.get(f"/schedules/{sid}").status_code == 404
    db = api.app.runtime.db
    assert [len(audit_rows(db, e)) for e in ("schedule.created", "schedule.updated", "schedule.deleted")] == [1, 1, 1]
