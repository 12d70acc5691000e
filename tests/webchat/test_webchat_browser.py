"""The web chat in a real headless Chromium, under the app's Content-Security-Policy: the page's
script and style run (with their nonce), a message gets its reply, and the console shows no
policy violation. Screenshots go to tests/screenshots/."""
from __future__ import annotations

import pytest

from tests.support.browser import csp_violations, launched, screenshot, watch_console


@pytest.fixture
def browser():
    with launched() as instance:
        yield instance


def test_a_visitor_chats_in_the_browser_under_the_content_security_policy(browser, live_app, make_config,
                                                                          fake_model):
    app = live_app(make_config(model=fake_model))
    page = browser.new_page(locale="en-US")
    console = watch_console(page)
    page.goto(app.url + "/chat")
    assert "nonce-" in page.evaluate("async () => (await fetch('/chat')).headers.get('content-security-policy')")
    assert page.locator("h1").evaluate("e => getComputedStyle(e).backgroundColor") == "rgb(31, 41, 55)", \
        "the page's style did not apply"
    page.fill("#text", "hello from the browser")
    page.press("#text", "Enter")
    page.wait_for_selector(".msg.bot >> text=echo: hello from the browser", timeout=20000)
    assert page.locator(".msg.me").inner_text() == "hello from the browser"
    screenshot(page, "webchat-01-reply")
    assert csp_violations(console) == [] and not [p for p in console if p.startswith("uncaught")], console
