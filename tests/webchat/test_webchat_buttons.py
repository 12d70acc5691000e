"""Approval buttons in the web chat: the approvers' notice carries Approve / Deny, the page posts the
pressed one's data to /chat/api/press, and the press is decided by the worker like any platform's:
only by an approver, once, never forged. Bad presses get a clear 4xx, never a 500."""
from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa

from smartbot.webchat.cookie import NAME, PATH, ChatCookie
from tests.support.executor import Chat, add_command, audit_rows, bind, details, script
from tests.webchat.visitors import HEADERS, Visitor

APPROVERS = "approver-room-0001"


def _as(visitor: Visitor, chat_id: str) -> Visitor:
    """The visitor now holding the cookie of chat `chat_id` (an approver's chat, bound to a user)."""
    value = ChatCookie(os.environ["SMARTBOT_SECRET_KEY"], 86400).issue(chat_id, time.time())
    visitor.s.cookies.clear()
    visitor.s.cookies.set(NAME, value, path=PATH)
    return visitor


@pytest.fixture
def desk(live_app, make_config, fake_platform):
    app = live_app(make_config(approvals={"notify": [f"webchat:{APPROVERS}"]}))
    db = app.runtime.db
    add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}\.[0-9]{1,3}"}], needs_approval=True)
    bind(db, APPROVERS, "bob", ["operator"], channel="webchat")
    bind(db, "usr", "uma", ["operator"])
    assert "request #1" in Chat(app, fake_platform).say("/deploy v1.2", user="usr", chat="dev")
    approver = _as(Visitor(app.url), APPROVERS)
    notice = approver.replies(1)[0]
    return app, approver, notice


def _press(visitor: Visitor, data: str, client_id: str):
    return visitor.s.post(visitor.url + "/chat/api/press", json={"data": data, "client_id": client_id},
                          headers=HEADERS, timeout=10)


def _status(app) -> str:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT status FROM approvals WHERE id = 1")).scalar()


def test_the_notice_in_the_page_offers_approve_and_deny(desk):
    _, _, notice = desk
    assert [(b["label"], b["approve"]) for b in notice["buttons"]] == [("Approve", True), ("Deny", False)]
    assert all(b["data"].split(":")[1] == "1" for b in notice["buttons"])


def test_pressing_approve_decides_once_and_the_answer_shows_who(desk):
    app, approver, notice = desk
    approve = notice["buttons"][0]["data"]
    after = approver.history().json()["last"]
    assert _press(approver, approve, "press-0001").status_code == 202
    answer = approver.replies(1, after)[0]
    assert answer["press"] == "update" and answer["reply_to"] == "press-press-0001"
    assert "approved by bob" in answer["text"] and "deployed v1.2" in answer["text"]
    replay = _press(approver, approve, "press-0001")
    assert replay.status_code == 202 and replay.json()["status"] == "duplicate"
    assert _status(app) == "done" and len(audit_rows(app.runtime.db, "command.ran")) == 1
    shown = [e["text"] for e in approver.history().json()["messages"]]
    assert "[button]" not in shown          # a press is not something the visitor wrote


def test_a_second_press_and_a_forged_one_are_refused_and_audited(desk):
    app, approver, notice = desk
    approve, deny = (b["data"] for b in notice["buttons"])
    after = approver.history().json()["last"]
    _press(approver, deny, "press-0002")
    approver.replies(1, after)
    after = approver.history().json()["last"]
    _press(approver, approve, "press-0003")
    _press(approver, approve[:-3] + "xyz", "press-0004")
    late, forged = sorted(approver.replies(2, after), key=lambda e: e["reply_to"])
    assert late["press"] == "private" and "already denied" in late["text"]
    assert forged["press"] == "private" and "not valid" in forged["text"]
    assert _status(app) == "denied" and audit_rows(app.runtime.db, "command.ran") == []
    reasons = [details(r)["reason"] for r in audit_rows(app.runtime.db, "approval.press_refused")]
    assert sorted(reasons) == ["the button's digest does not match the request",
                               "the request was decided already or has expired"]


def test_a_guest_visitor_cannot_decide(desk):
    app, _, notice = desk
    guest = Visitor(app.url)
    _press(guest, notice["buttons"][0]["data"], "press-0005")
    answer = guest.replies(1)[0]
    assert answer["press"] == "private" and "approval:decide" in answer["text"]
    assert _status(app) == "pending" and len(audit_rows(app.runtime.db, "approval.refused")) == 1


@pytest.mark.parametrize("body,headers,status", [
    ({"data": "a:1:AAAAAAAAAAA", "client_id": "press-0006"}, {}, 403),
    ({"data": "/approve 1", "client_id": "press-0007"}, HEADERS, 400),
    ({"data": "a:1:" + "A" * 80, "client_id": "press-0008"}, HEADERS, 400),
    ({"data": "a:1:AAAAAAAAAAA", "client_id": "x"}, HEADERS, 400),
    ({"data": ["a:1:AAAAAAAAAAA"], "client_id": "press-0009"}, HEADERS, 400),
    ([1, 2], HEADERS, 400),
])
def test_bad_presses_get_a_clear_refusal(desk, body, headers, status):
    app, approver, _ = desk
    resp = approver.s.post(app.url + "/chat/api/press", json=body, headers=headers, timeout=10)
    assert resp.status_code == status and resp.json()["error"]
