"""Approve / Deny buttons on Telegram, Slack, Discord, Feishu and WeCom, end to end: the app served for real, the
platforms faked on loopback. A press is decided exactly as /approve is: only by an approver, never
by the requester, never twice, never after expiry; a forged or replayed press does nothing but an
audited refusal, answered privately."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from tests.support.button_presses import PRESSERS, ROOMS
from tests.support.executor import Chat, add_command, audit_rows, bind, details, script
from tests.support.platform_clients import quiet_for

# Platform user ids: the approver, a second approver, a stranger, and the requester's own account.
USERS = {"telegram": ("7001", "7002", "7003", "7004"), "slack": ("U0BOB", "U0OLGA", "U0EVE", "U0UMA"),
         "discord": ("800000000000000001", "800000000000000002", "800000000000000003", "800000000000000004"),
         "feishu": ("ou_bob", "ou_olga", "ou_eve", "ou_uma"), "wecom": ("bob", "olga", "eve", "uma"),
         "dingtalk": ("staff_bob", "staff_olga", "staff_eve", "staff_uma")}   # test_approval_buttons_dingtalk_wecom.py


@pytest.fixture(params=sorted(PRESSERS))
def desk(request, live_app, make_config, fake_platform):
    platform = request.param
    presser = PRESSERS[platform]
    fake = presser.start_fake()
    request.addfinalizer(fake.stop)
    app = live_app(make_config(channels={platform: presser.channel_config(fake)},
                               approvals={"notify": [f"{platform}:{ROOMS[platform]}"]}))
    chat = pending_deploy(app, platform, fake_platform)
    return platform, app, presser(app.url, fake), chat


def pending_deploy(app, platform: str, fake_platform) -> Chat:
    """Approvers bob and olga on `platform`, the requester uma (also known there), and her `/deploy v1.2`
    waiting for approval as request #1; the requester's chat."""
    db = app.runtime.db
    add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}\.[0-9]{1,3}"}], needs_approval=True)
    approver, second, _, own = USERS[platform]
    bind(db, approver, "bob", ["operator"], channel=platform)
    bind(db, second, "olga", ["operator"], channel=platform)
    requester = bind(db, "usr", "uma", ["operator"])
    with db.write() as conn:        # the requester's own account on the platform, bound to the same user
        conn.execute(sa.text("INSERT INTO identities (channel, platform_user_id, user_id, display_name, created_at) "
                             "VALUES (:c, :p, :u, 'uma', 0)"), {"c": platform, "p": own, "u": requester})
    chat = Chat(app, fake_platform)
    assert "request #1" in chat.say("/deploy v1.2", user="usr", chat="dev")
    return chat



def _status(app) -> str:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT status FROM approvals WHERE id = 1")).scalar()


def _wait_status(app, wanted: str, timeout: float = 15.0) -> str:
    deadline = time.monotonic() + timeout
    while _status(app) != wanted and time.monotonic() < deadline:
        time.sleep(0.05)
    return _status(app)


def _refusals(app) -> list[dict]:
    return [details(r) for r in audit_rows(app.runtime.db, "approval.press_refused")]


def test_the_notice_offers_approve_and_deny_bound_to_the_request(desk):
    platform, app, presser, _ = desk
    approve, deny = presser.buttons()
    assert approve.startswith("a:1:") and deny.startswith("d:1:") and approve[4:] == deny[4:]
    assert len(approve.encode()) <= 64
    assert "/approve 1" in presser.text_of(presser.notice)      # typing still works


def test_the_approver_presses_approve_the_command_runs_once_and_the_message_shows_who(desk):
    platform, app, presser, chat = desk
    approve, _ = presser.buttons()
    assert presser.press(approve, USERS[platform][0], "100000000000000101").status_code == 200
    decided = presser.wait("decided", 1)
    assert len(decided) == 1 and "approved by bob" in presser.text_of(decided[0])
    assert ("deployed v1.2" in presser.text_of(decided[0])) is presser.shows_output
    assert _wait_status(app, "done") == "done"
    assert len(audit_rows(app.runtime.db, "command.ran")) == 1
    approved = audit_rows(app.runtime.db, "approval.approved")
    assert len(approved) == 1 and approved[0].actor == f"{platform}:{USERS[platform][0]}"
    assert any("approved and run" in text for text in chat.in_chat("dev"))
    if platform == "telegram":      # the spinner stopped quietly, the buttons are gone
        answered = presser.fake.calls("telegram", "/answerCallbackQuery")
        assert len(answered) == 1 and not answered[0]["json"].get("show_alert")
        assert decided[0]["json"]["reply_markup"] == {"inline_keyboard": []}


def test_deny_by_button_tells_the_requester(desk):
    platform, app, presser, chat = desk
    _, deny = presser.buttons()
    presser.press(deny, USERS[platform][0], "100000000000000102")
    assert "denied by bob" in presser.text_of(presser.wait("decided", 1)[0])
    assert _wait_status(app, "denied") == "denied"
    assert audit_rows(app.runtime.db, "command.ran") == []
    assert any("was denied by bob" in text for text in chat.in_chat("dev"))


def test_the_requester_pressing_is_refused_privately(desk):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    presser.press(approve, USERS[platform][3], "100000000000000103")
    private = presser.wait("private", 1)
    assert len(private) == 1 and "cannot decide your own request" in presser.text_of(private[0])
    assert presser.wait("decided", 1, timeout=0.5) == [] and _status(app) == "pending"
    assert "requester cannot decide" in details(audit_rows(app.runtime.db, "approval.refused")[0])["reason"]


def test_a_stranger_pressing_is_refused_privately_and_audited(desk):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    presser.press(approve, USERS[platform][2], "100000000000000104")
    private = presser.wait("private", 1)
    assert len(private) == 1 and "approval:decide" in presser.text_of(private[0])
    refused = audit_rows(app.runtime.db, "approval.refused")
    assert len(refused) == 1 and refused[0].actor == f"{platform}:{USERS[platform][2]}"
    assert _status(app) == "pending" and audit_rows(app.runtime.db, "command.ran") == []


def test_a_second_press_after_the_decision_is_refused_and_audited(desk):
    platform, app, presser, _ = desk
    approve, deny = presser.buttons()
    presser.press(approve, USERS[platform][0], "100000000000000105")
    presser.wait("decided", 1)
    presser.press(deny, USERS[platform][1], "100000000000000106")
    private = presser.wait("private", 1)
    assert len(private) == 1 and "already" in presser.text_of(private[0])
    assert _wait_status(app, "done") == "done" and len(audit_rows(app.runtime.db, "command.ran")) == 1
    assert [r["reason"] for r in _refusals(app)] == ["the request was decided already or has expired"]


def test_a_replayed_press_is_stored_once_and_answered_once(desk):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    for _ in range(3):
        assert presser.press(approve, USERS[platform][0], "100000000000000107").status_code == 200
    presser.wait("decided", 1)
    quiet_for(1.0)
    assert len(presser.wait("decided", 1)) == 1 and presser.wait("private", 1, timeout=0.2) == []
    assert len(audit_rows(app.runtime.db, "command.ran")) == 1
    assert len(audit_rows(app.runtime.db, "approval.approved")) == 1
    replayed = {r["reason"] for r in _refusals(app)}
    assert replayed == {"the same press again (its callback id was seen before)"}


def test_a_press_after_expiry_is_refused(desk):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE approvals SET expires_at = :t WHERE id = 1"), {"t": time.time() - 1})
    presser.press(approve, USERS[platform][0], "100000000000000108")
    private = presser.wait("private", 1)
    assert len(private) == 1 and "expired" in presser.text_of(private[0])
    assert audit_rows(app.runtime.db, "command.ran") == [] and audit_rows(app.runtime.db, "approval.approved") == []
    assert _refusals(app)


@pytest.mark.parametrize("forge", ["digest", "other_request", "shape"])
def test_a_forged_press_does_nothing_but_an_audited_refusal(desk, forge):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    forged = {"digest": approve[:-4] + ("AAAA" if not approve.endswith("AAAA") else "BBBB"),
              "other_request": "a:2:" + approve.split(":")[2],
              "shape": "a:1:" + approve.split(":")[2] + ":1"}[forge]
    presser.press(forged, USERS[platform][0], "100000000000000109")
    private = presser.wait("private", 1)
    assert len(private) == 1 and "not valid" in presser.text_of(private[0])
    refused = _refusals(app)
    assert len(refused) == 1 and refused[0]["chat"].startswith(platform)
    assert _status(app) == "pending" and audit_rows(app.runtime.db, "approval.approved") == []
