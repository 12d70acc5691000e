"""The queues through the admin API: depth, age and failed entries as numbers; a failed reply
retried and delivered, a failed entry dropped, each audited; and what is refused (another admin
area, an inbox retry, bad names and ids, numbers that are not numbers)."""
from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from tests.support.api_client import ADMIN_PASSWORD, admin_api, login
from tests.support.chat import audit_rows
from tests.support.waiting import wait_until


@pytest.fixture
def app(live_app, make_config, fake_model):
    return live_app(make_config(model=fake_model, jobs={"outbox_max_attempts": 1}))


def _failed_replies(app) -> list[int]:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT id FROM outbox WHERE status = 'failed' ORDER BY id")).scalars().all()


def _fail_a_reply(app, platform, event_id: str) -> int:
    before = len(_failed_replies(app))
    platform.fail_next(1, 503)
    assert app.post_generic({"event_id": event_id, "chat_id": f"chat-{event_id}", "user_id": "u1",
                             "text": event_id}).status_code == 200
    assert wait_until(lambda: len(_failed_replies(app)) > before, 10)
    return _failed_replies(app)[-1]


def _failed_inbox_entry(app) -> int:
    now = time.time()
    with app.runtime.db.write() as conn:
        return conn.execute(sa.text(
            "INSERT INTO inbox (channel, event_id, order_key, payload, status, lease_until, attempts, "
            "next_attempt_at, created_at, finished_at, last_error) VALUES ('generic', 'dead-1', 'generic:c9:u9', "
            ":payload, 'failed', 0, 3, 0, :now, :now, 'boom') RETURNING id"),
            {"payload": json.dumps({"chat_id": "c9", "text": "never answered"}), "now": now}).scalar()


def test_a_failed_reply_retried_through_the_api_is_delivered_once_and_audited(app, fake_platform):
    api = admin_api(app)
    row_id = _fail_a_reply(app, fake_platform, "lost")
    overview = api.get("/queues/overview").json()
    assert overview["outbox"]["failed"] == 1 and overview["outbox"]["depth"] == 0
    assert isinstance(overview["inbox"]["oldest_age"], float)
    listed = api.get("/queues/outbox/failed").json()["items"]
    assert [(r["id"], r["text"], r["attempts"]) for r in listed] == [(row_id, "echo: lost", 1)]
    assert listed[0]["last_error"]
    resp = api.post(f"/queues/outbox/failed/{row_id}/retry")
    assert resp.status_code == 200 and resp.json() == {"retried": row_id, "queue": "outbox"}
    assert wait_until(lambda: fake_platform.texts() == ["echo: lost"], 10), fake_platform.texts()
    assert _failed_replies(app) == []
    assert api.post(f"/queues/outbox/failed/{row_id}/retry").status_code == 404     # not failed any more
    audit = audit_rows(app, "queue.retried")
    assert [(a.actor, a.target) for a in audit] == [("admin:root", f"outbox:{row_id}")]
    details = json.loads(audit[0].details)
    assert details["attempts"] == 1 and details["chat"] == "generic:chat-lost" and "echo" not in audit[0].details


def test_a_dropped_entry_is_gone_and_audited_and_an_inbox_entry_is_not_retried(app, fake_platform):
    api = admin_api(app)
    reply = _fail_a_reply(app, fake_platform, "dropme")
    message = _failed_inbox_entry(app)
    refused = api.post(f"/queues/inbox/failed/{message}/retry")
    assert refused.status_code == 422 and "already told" in refused.json()["error"]
    assert api.get("/queues/overview").json()["inbox"]["failed"] == 1
    for queue, row_id in (("inbox", message), ("outbox", reply)):
        assert api.delete(f"/queues/{queue}/failed/{row_id}").json() == {"dropped": row_id, "queue": queue}
        assert api.delete(f"/queues/{queue}/failed/{row_id}").status_code == 404
        assert api.get(f"/queues/{queue}/failed").json()["items"] == []
    dropped = audit_rows(app, "queue.dropped")
    assert [(a.actor, a.target) for a in dropped] == [("admin:root", f"inbox:{message}"), ("admin:root", f"outbox:{reply}")]
    assert json.loads(dropped[0].details)["error"] == "boom" and "503" in json.loads(dropped[1].details)["error"]
    time.sleep(0.3)
    assert fake_platform.texts() == [], "a dropped reply was sent"


def test_bad_queue_names_ids_and_numbers_are_refused_with_a_reason(app):
    api = admin_api(app)
    for path, status in (("/queues/trash/failed", 404), ("/queues/outbox/failed?limit=NaN", 400),
                         ("/queues/outbox/failed?limit=1e23", 400), ("/queues/outbox/failed?limit=0", 400)):
        resp = api.get(path)
        assert resp.status_code == status and resp.json()["error"], path
    for path in ("/queues/outbox/failed/abc/retry", "/queues/outbox/failed/-1/retry",
                 f"/queues/outbox/failed/{10**30}/retry", "/queues/outbox/failed/424242/retry"):
        resp = api.post(path)
        assert resp.status_code == 404 and resp.json()["error"], path
    assert api.delete(f"/queues/outbox/failed/{10**30}").status_code == 404
    assert api.delete("/queues/trash/failed/1").status_code == 404


def test_a_caller_with_another_admin_area_is_refused_and_audited(app, fake_platform):
    api = admin_api(app)
    row_id = _fail_a_reply(app, fake_platform, "guarded")
    assert api.post("/roles", {"name": "auditors", "permissions": ["admin:login", "admin:audit"]}).status_code == 201
    assert api.post("/users", {"name": "clerk", "roles": ["auditors"], "password": ADMIN_PASSWORD}).status_code == 201
    clerk = login(app.url, "clerk")
    for method, path in (("GET", "/queues/overview"), ("GET", "/queues/outbox/failed"),
                         ("POST", f"/queues/outbox/failed/{row_id}/retry"), ("DELETE", f"/queues/outbox/failed/{row_id}")):
        resp = clerk.call(method, path, **({"json": {}} if method == "POST" else {}))
        assert resp.status_code == 403 and resp.json()["error"], (method, path)
    assert _failed_replies(app) == [row_id]
    denied = [(a.actor, a.target) for a in audit_rows(app, "api.denied")]
    assert denied == [("admin:clerk", "admin:queues")] * 4
    assert audit_rows(app, "queue.retried") == [] and audit_rows(app, "queue.dropped") == []


def test_usage_by_model_sums_the_same_rows_the_listing_has(app, fake_platform):
    api = admin_api(app)
    for i, user in enumerate(("alice", "alice", "bob")):
        assert app.post_generic({"event_id": f"use-{i}", "chat_id": f"c-{user}", "user_id": user,
                                 "text": "hello"}).status_code == 200
    fake_platform.wait_for(3)
    rows = api.get("/usage").json()
    assert {(r["user"], r["model"], r["tokens"]) for r in rows["items"]} == \
        {("generic:alice", "fake-1", 30), ("generic:bob", "fake-1", 15)}
    for by, expected in (("model", [("fake-1", 45)]), ("provider", [("main", 45)]),
                         ("user", [("generic:alice", 30), ("generic:bob", 15)])):
        summed = api.get(f"/usage?by={by}").json()
        assert [(item[by], item["tokens"]) for item in summed["items"]] == expected
        assert summed["totals"] == rows["totals"]
    assert api.get("/usage?by=colour").status_code == 422
