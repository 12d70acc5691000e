"""Hand-offs in a real headless Chromium against the app under gunicorn, in English and in Chinese:
a customer asks for a person, an agent finds the waiting conversation on the Hand-offs page (with
its last turns), answers in its reply box, answers again from the conversation's own page, and gives
it back to the bot; each answer reaches the customer's chat once and the bot answers again after.
In zh-CN the pages show no English but what people wrote. Screenshots:
tests/screenshots/handoff-<lang>-*.png."""
from __future__ import annotations

import time

import pytest

from tests.admin.test_admin_languages import VISIBLE_TEXT, WORD, english_words
from tests.support.admin_site import AdminSite
from tests.support.browser import csp_violations, launched, screenshot, watch_console
from tests.support.waiting import wait_until

SAID = {
    "en": {"question": "where is my parcel?", "first": "Anna here, your parcel left today.",
           "second": "It arrives on Friday.", "after": "thanks!"},
    "zh-CN": {"question": "我的包裹在哪里？", "first": "我是安娜，您的包裹今天已发出。",
              "second": "周五送达。", "after": "谢谢！"},
}


@pytest.fixture
def browser():
    with launched() as instance:
        yield instance


def _customer_got(platform, text: str) -> list[dict]:
    return [r for r in list(platform.received) if r["json"] and r["json"]["chat_id"] == "shop"
            and r["json"]["text"] == text]


def _say(site: AdminSite, platform, event_id: str, text: str) -> None:
    assert site.app.post_generic({"event_id": event_id, "chat_id": "shop", "user_id": "cus",
                                  "user_name": "Chen", "text": text}).status_code == 200


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_an_agent_answers_a_waiting_customer_from_the_page_once_and_gives_it_back(browser, gunicorn_app, make_config,
                                                                                 fake_model, fake_platform, lang):
    said = SAID[lang]
    site = AdminSite(gunicorn_app(make_config(model=fake_model, default_locale=lang,
                                              handoff={"notify": ["generic:agents"]})))
    try:
        _say(site, fake_platform, "q1", said["question"])
        assert wait_until(lambda: fake_platform.replies_to("q1"), 15)
        _say(site, fake_platform, "h1", "/human")
        assert wait_until(lambda: [r for r in fake_platform.received if r["json"]["chat_id"] == "agents"], 15)

        page = site.log_in(browser, lang)
        console = watch_console(page)
        page.locator("header nav a[href$='/admin/handoffs']").first.click()
        waiting = page.locator("#handoff-1")
        waiting.wait_for()
        assert said["question"] in waiting.locator("ol.turns").inner_text()
        screenshot(page, f"handoff-{lang}-1-waiting")
        if lang == "zh-CN":
            people = set(WORD.findall(" ".join(said.values()))) | {"Chen", "cus", "shop", "root"}
            assert english_words(page.evaluate(VISIBLE_TEXT), people) == []

        page.fill("#reply-text-1", said["first"])
        page.locator("#reply-1 button[type=submit]").click()
        page.wait_for_selector(".flash")
        assert wait_until(lambda: _customer_got(fake_platform, said["first"]), 15)
        page.reload()                          # a reload after sending must not send again
        screenshot(page, f"handoff-{lang}-2-answered")

        page.goto(f"{site.url}/admin/conversations?key=generic:shop:cus")
        page.fill("#reply-text-1", said["second"])
        page.locator("#reply-1 button[type=submit]").click()
        page.wait_for_selector("#reply-1")
        assert wait_until(lambda: _customer_got(fake_platform, said["second"]), 15)
        assert wait_until(lambda: page.reload() or said["second"] in page.locator("ol.turns").inner_text(), 10)
        screenshot(page, f"handoff-{lang}-3-conversation")
        if lang == "zh-CN":
            people = set(WORD.findall(" ".join(said.values()))) | {"Chen", "cus", "shop", "root"}
            assert english_words(page.evaluate(VISIBLE_TEXT), people) == []

        calls = fake_model.calls()
        page.goto(f"{site.url}/admin/handoffs")
        page.locator("#release-1 button[type=submit]").click()
        page.wait_for_selector("#handoff-1.released")
        assert page.locator("#reply-1").count() == 0
        screenshot(page, f"handoff-{lang}-4-released")
        _say(site, fake_platform, "a1", said["after"])
        assert wait_until(lambda: fake_platform.replies_to("a1"), 15)
        assert fake_model.calls() == calls + 1
        time.sleep(1.0)                        # a second delivery would show by now
        assert len(_customer_got(fake_platform, said["first"])) == 1
        assert len(_customer_got(fake_platform, said["second"])) == 1
        assert csp_violations(console) == []
    finally:
        site.close()
