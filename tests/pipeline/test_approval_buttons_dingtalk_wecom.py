"""Approve / Deny buttons on DingTalk (an interactive card, its callback posted to the URL SmartBot
registered) and on WeCom's AI bot (a template card over the long connection): the same scenarios as
test_approval_buttons.py, run against these platforms' fakes. A press is decided exactly as
/approve is: only by an approver, never by the requester, never twice, never after expiry; a forged
or replayed press does nothing but an audited refusal, answered privately."""
from __future__ import annotations

import json

import pytest
import requests

from tests.pipeline.test_approval_buttons import (  # noqa: F401  (the scenarios, collected here too)
    USERS, pending_deploy, test_a_forged_press_does_nothing_but_an_audited_refusal, test_a_press_after_expiry_is_refused,
    test_a_replayed_press_is_stored_once_and_answered_once,
    test_a_second_press_after_the_decision_is_refused_and_audited,
    test_a_stranger_pressing_is_refused_privately_and_audited, test_deny_by_button_tells_the_requester,
    test_the_approver_presses_approve_the_command_runs_once_and_the_message_shows_who,
    test_the_notice_offers_approve_and_deny_bound_to_the_request, test_the_requester_pressing_is_refused_privately)
from tests.support.button_presses_dingtalk_wecom import DINGTALK_SECRET, PRESSERS
from tests.support.connect_mode import TAKEOVER
from tests.support.executor import audit_rows


@pytest.fixture(params=sorted(PRESSERS))
def desk(request, live_app, make_config, fake_platform):
    presser = PRESSERS[request.param]
    platform = presser.platform
    fake = presser.start_fake()
    request.addfinalizer(fake.stop)
    channels = {platform: presser.channel_config(fake)}
    if channels[platform].get("mode") == "connect":
        channels["takeover_seconds"] = TAKEOVER
    room = presser(None, fake).room
    app = live_app(make_config(channels=channels, approvals={"notify": [f"{platform}:{room}"]}))
    chat = pending_deploy(app, platform, fake_platform)
    return platform, app, presser(app.url, fake), chat


@pytest.mark.parametrize("desk", ["dingtalk"], indirect=True)
def test_dingtalk_registers_its_card_route_once_and_refuses_a_press_without_its_token(desk):
    platform, app, presser, _ = desk
    approve, _ = presser.buttons()
    [url] = presser.fake.routes.values()
    assert url.startswith("https://bot.example.com/webhooks/dingtalk?card=") and DINGTALK_SECRET not in url
    assert presser.notice["json"]["callbackRouteKey"] in presser.fake.routes
    body = {"outTrackId": presser.notice["json"]["cardBizId"], "userId": USERS["dingtalk"][0],
            "content": json.dumps({"cardPrivateData": {"actionIds": ["smartbot_" + approve.replace(":", "_", 2)]}})}
    for token in ("0" * 40, ""):
        resp = requests.post(app.url + "/webhooks/dingtalk", params={"card": token}, json=body, timeout=10)
        assert resp.status_code == 401
    assert presser.wait("decided", 1, timeout=1.0) == []
    assert len(audit_rows(app.runtime.db, "webhook.refused")) == 2
    pressed = presser.press(approve, USERS["dingtalk"][0], "r1")      # with the token: a JSON answer DingTalk reads
    assert pressed.status_code == 200 and pressed.json() == {} and len(presser.wait("decided", 1)) == 1


@pytest.mark.parametrize("desk", ["dingtalk_stream"], indirect=True)
def test_in_stream_mode_the_card_calls_back_on_the_connection_and_registers_no_url(desk):
    _, app, presser, _ = desk
    approve, _ = presser.buttons()
    assert presser.notice["json"]["callbackType"] == "STREAM" and "callbackRouteKey" not in presser.notice["json"]
    assert presser.fake.routes == {}
    press_id = presser.fake.card_callback(presser.callback(approve, USERS["dingtalk"][0], "s1"), "press-s1")
    assert presser.fake.wait_ack(press_id)["code"] == 200
    assert len(presser.wait("decided", 1)) == 1
    presser.fake.card_callback({"outTrackId": "x", "userId": "y", "content": "{}"}, "not-ours")
    assert presser.fake.wait_ack("not-ours")["code"] == 200        # another card's callback: acknowledged, ignored


@pytest.mark.parametrize("desk", ["wecom_aibot"], indirect=True)
def test_a_card_update_wecom_refuses_is_pushed_to_the_chat_instead(desk):
    _, app, presser, _ = desk
    approve, _ = presser.buttons()
    presser.fake.refuse_next[presser.fake.UPDATE] = 846608        # the update came too late
    presser.press(approve, USERS["wecom"][0], "late-1")
    pushed = presser.fake.wait_delivered(2)[-1]
    assert pushed["cmd"] == "aibot_send_msg" and pushed["body"]["chatid"] == presser.room
    assert "approved by bob" in pushed["body"]["markdown"]["content"] and presser.fake.updates == []
    assert len(audit_rows(app.runtime.db, "command.ran")) == 1
