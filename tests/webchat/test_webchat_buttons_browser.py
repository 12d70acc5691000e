"""The approval buttons in the chat page, in a real headless Chromium against the app under gunicorn:
the approver's page shows Approve / Deny under the notice, a click decides the request, and the
buttons give way to the answer naming who decided."""
from __future__ import annotations

import os
import time

import pytest
import sqlalchemy as sa

from smartbot.webchat.cookie import NAME, PATH, ChatCookie
from tests.support.apps import GunicornApp
from tests.support.executor import add_command, bind, script
from tests.webchat.chat_browser import WAIT_MS, ChatPage
from tests.webchat.visitors import Visitor

APPROVERS, REQUESTER = "approver-room-0002", "requester-0002"


@pytest.fixture
def desk(tmp_path):
    from smartbot.storage.db import Database

    config = {"database_url": f"sqlite:///{tmp_path / 'smartbot.db'}", "jobs": {"lease_seconds": 3.0,
              "sweep_seconds": 0.2}, "approvals": {"notify": [f"webchat:{APPROVERS}"]}}
    app = GunicornApp(config, tmp_path).start()
    db = Database(config["database_url"])
    try:
        add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                    [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}\.[0-9]{1,3}"}],
                    needs_approval=True)
        bind(db, APPROVERS, "bob", ["operator"], channel="webchat")
        bind(db, REQUESTER, "uma", ["operator"], channel="webchat")
        yield app, db
    finally:
        app.stop()
        db.dispose()


def _cookie(chat_id: str) -> str:
    return ChatCookie(os.environ["SMARTBOT_SECRET_KEY"], 86400).issue(chat_id, time.time())


def test_clicking_approve_decides_and_the_buttons_give_way(browser, desk):
    app, db = desk
    requester = Visitor(app.url)
    requester.s.cookies.clear()
    requester.s.cookies.set(NAME, _cookie(REQUESTER), path=PATH)
    assert "request #1" in requester.say("/deploy v1.2")["text"]
    chat = ChatPage.new(browser, app.url)
    chat.page.context.add_cookies([{"name": NAME, "value": _cookie(APPROVERS), "url": app.url + PATH}])
    chat.goto()
    chat.wait_for_bot("Approval needed")
    buttons = chat.page.locator(".decisions button")
    assert buttons.all_inner_texts() == ["Approve", "Deny"]
    buttons.first.click()
    chat.wait_for_bot("approved by bob")
    chat.page.locator(".decisions").wait_for(state="detached", timeout=WAIT_MS)
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT status FROM approvals WHERE id = 1")).scalar() in ("running", "done")
    assert [text for side, text in chat.transcript() if side == "me"] == []     # a press is no message
    assert chat.problems() == []
    chat.page.context.close()
