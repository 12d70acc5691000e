"""Profiles and hand-offs on the admin page, in English and Chinese: a profile made with the form
applies to its chat; an agent answers a waiting customer from the conversation's page (once, even
when the form is sent twice) and gives the conversation back from the hand-offs page."""
from __future__ import annotations

import time

import pytest

from tests.support.admin_page import admin_of
from tests.support.executor import Chat, audit_rows
from tests.support.waiting import wait_until


@pytest.fixture
def site(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, handoff={"notify": ["generic:agents"]}))
    return app, admin_of(app), Chat(app, fake_platform)


def test_a_profile_made_on_the_page_applies_and_bad_input_is_named(site, fake_model):
    app, page, chat = site
    assert "Per-chat profiles" in page.get("/admin/profiles").text
    assert "按聊天的配置档" in page.get("/admin/profiles?lang=zh-CN").text
    made = page.post("/admin/profiles", {"name": "shop", "match": '{"chat_id": "shop"}', "priority": "3",
                                         "locale": "", "model_route": "", "tools": "off", "knowledge": "",
                                         "system_prompt": "You sell tea.", "enabled": "on"})
    assert made.status_code == 200 and "shop" in made.text
    chat.say("hi", chat="shop")
    assert fake_model.requests[-1]["json"]["messages"][0]["content"] == "You sell tea."
    bad = page.post("/admin/profiles", {"name": "bad", "match": '{"role": "admin"}', "tools": "maybe"})
    assert bad.status_code == 200 and "role" in bad.text
    bad = page.post("/admin/profiles", {"name": "bad", "match": "{}", "messages_per_minute": "nan"})
    assert "messages_per_minute" in bad.text or "每分钟" in bad.text
    assert [r.target for r in audit_rows(app.runtime.db, "profile.created")] == ["shop"]
    assert page.post("/admin/profiles/shop/delete", {}).status_code == 200
    assert audit_rows(app.runtime.db, "profile.deleted")


def test_an_agent_answers_from_the_conversation_page_once_and_releases(site, fake_platform):
    app, page, chat = site
    chat.say("/human", user="cus", chat="shop")
    conversation = page.get("/admin/conversations", params={"key": "generic:shop:cus"}).text
    assert "Hand-off #1" in conversation and 'id="reply-1"' in conversation
    key = conversation.split('name="key" value="')[1].split('"')[0]
    form = {"text": "A person here.", "key": key, "back": "conversation", "conversation": "generic:shop:cus"}
    assert page.post("/admin/handoffs/1/reply", form).status_code == 200
    assert page.post("/admin/handoffs/1/reply", form).status_code == 200       # sent twice: answered once
    assert wait_until(lambda: [r for r in fake_platform.received if r["json"]["text"] == "A person here."], 10)
    time.sleep(1.0)
    assert len([r for r in fake_platform.received if r["json"]["text"] == "A person here."]) == 1
    listing = page.get("/admin/handoffs").text
    assert "#1" in listing and "A person here." in listing
    assert "转人工" in page.get("/admin/handoffs?lang=zh-CN").text
    assert page.post("/admin/handoffs/1/release", {}).status_code == 200
    assert audit_rows(app.runtime.db, "handoff.released")[0].actor == "admin:root"
    again = page.post("/admin/handoffs/1/reply", {"text": "late", "key": "k2"})
    assert "已经结束" in again.text                                        # in the page's language
    page.get("/admin/handoffs?lang=en")
    assert "closed already" in page.post("/admin/handoffs/1/release", {}).text
    assert len(audit_rows(app.runtime.db, "handoff.refused")) == 2
