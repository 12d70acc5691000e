"""Commands that need an approval: the request, the notice to the approvers' chat, /approve and
/deny by someone with approval:decide (never the requester), the requester told, and expiry."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.support.executor import Chat, add_command, audit_rows, bind, details, script


@pytest.fixture
def desk(live_app, make_config, fake_platform):
    app = live_app(make_config(approvals={"notify": ["generic:ops-room"], "expire_minutes": 30}))
    db = app.runtime.db
    add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}\.[0-9]{1,3}"}], needs_approval=True)
    bind(db, "op", "olga", ["operator"])
    bind(db, "boss", "bob", ["operator"])
    bind(db, "usr", "uma", ["user"])
    with db.write() as conn:
        conn.execute(sa.text("UPDATE roles SET permissions = '[\"chat\", \"command:run:deploy\"]' WHERE name = 'user'"))
    return app, Chat(app, fake_platform)


def _status(app, approval_id: int) -> str:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT status FROM approvals WHERE id = :i"), {"i": approval_id}).scalar()


def test_a_request_is_pending_and_the_approvers_are_notified(desk):
    app, chat = desk
    reply = chat.say("/deploy v1.2", user="usr", chat="dev")
    assert "needs an approval: request #1" in reply and "30 minutes" in reply
    notice = chat.in_chat("ops-room")
    assert len(notice) == 1 and "/approve 1" in notice[0] and "uma" in notice[0] and "deploy v1.2" in notice[0]
    assert _status(app, 1) == "pending"
    assert audit_rows(app.runtime.db, "command.ran") == []
    assert details(audit_rows(app.runtime.db, "approval.requested")[0])["args"] == {"version": "v1.2"}


def test_approve_runs_it_as_the_requester_and_tells_them(desk):
    app, chat = desk
    chat.say("/deploy v1.2", user="usr", chat="dev")
    reply = chat.say("/approve 1", user="boss", chat="ops-room")
    assert "Request #1 (deploy) approved." in reply and "deployed v1.2" in reply
    told = chat.in_chat("dev")
    assert len(told) == 1 and "approved and run" in told[0] and "deployed v1.2" in told[0]
    assert _status(app, 1) == "done"
    ran = details(audit_rows(app.runtime.db, "command.ran")[-1])
    assert ran["approval"] == 1 and ran["approved_by"] == "generic:boss" and ran["exit_code"] == 0
    assert audit_rows(app.runtime.db, "command.ran")[-1].actor == "generic:usr"
    assert "already done" in chat.say("/approve 1", user="op", chat="ops-room")
    from smartbot import audit

    with app.runtime.db.read() as conn:
        assert audit.verify(conn).ok        # what `smartbot audit verify` checks


def test_deny_drops_it_and_tells_the_requester(desk):
    app, chat = desk
    chat.say("/deploy v2.0", user="usr", chat="dev")
    assert "denied" in chat.say("/deny #1", user="boss", chat="ops-room")
    assert "was denied by bob" in chat.in_chat("dev")[0]
    assert _status(app, 1) == "denied" and audit_rows(app.runtime.db, "command.ran") == []
    assert len(audit_rows(app.runtime.db, "approval.denied")) == 1


def test_nobody_approves_their_own_request(desk):
    app, chat = desk
    chat.say("/deploy v1.0", user="op", chat="dev")
    assert "cannot decide your own request" in chat.say("/approve 1", user="op", chat="dev")
    assert _status(app, 1) == "pending"
    assert "requester cannot decide" in details(audit_rows(app.runtime.db, "approval.refused")[0])["reason"]


def test_deciding_needs_the_right(desk):
    app, chat = desk
    chat.say("/deploy v1.0", user="op", chat="dev")
    assert "lacks 'approval:decide'" in chat.say("/approve 1", user="usr", chat="dev")
    assert "lacks 'approval:decide'" in chat.say("/approve 1", user="stranger", chat="dev")
    assert _status(app, 1) == "pending" and len(audit_rows(app.runtime.db, "approval.refused")) == 2


def test_bad_ids_get_clear_replies(desk):
    app, chat = desk
    assert "Usage: /approve <id>" in chat.say("/approve one", user="boss")
    assert "Usage: /approve <id>" in chat.say("/approve １", user="boss")
    assert "There is no request #99" in chat.say("/deny 99", user="boss")


def test_a_requester_who_lost_the_right_gets_nothing_run(desk):
    app, chat = desk
    chat.say("/deploy v3.0", user="usr", chat="dev")
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE roles SET permissions = '[\"chat\"]' WHERE name = 'user'"))
    reply = chat.say("/approve 1", user="boss", chat="ops-room")
    assert "approved but not run" in reply and "lacks 'command:run:deploy'" in reply
    assert _status(app, 1) == "failed" and audit_rows(app.runtime.db, "command.ran") == []


def test_requests_expire_and_the_requester_is_told(desk):
    app, chat = desk
    chat.say("/deploy v1.0", user="usr", chat="dev")
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE approvals SET expires_at = :t"), {"t": time.time() - 1})
    told = chat.in_chat("dev", timeout=10)
    assert told and "expired without a decision" in told[0]
    assert _status(app, 1) == "expired" and len(audit_rows(app.runtime.db, "approval.expired")) == 1
    assert "already expired" in chat.say("/approve 1", user="boss", chat="ops-room")


def test_a_retried_message_does_not_make_a_second_request(desk):
    app, chat = desk
    payload = {"event_id": "same-event", "chat_id": "dev", "user_id": "usr", "text": "/deploy v1.0"}
    assert app.post_generic(payload).status_code == 200
    chat.reply_to("same-event")
    assert app.post_generic(payload).json()["status"] == "duplicate"
    from smartbot.executor.approvals import Origin, create

    with app.runtime.db.write() as conn:   # the handler asked again after a crash: same key, same request
        row, new = create(conn, app.runtime.db, "generic:same-event", "deploy", {"version": "v1.0"},
                          Origin("generic:usr", "uma", "generic", "dev", {}), "chat", 60)
    assert not new and row.id == 1
