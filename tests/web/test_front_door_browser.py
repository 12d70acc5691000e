"""In a real headless Chromium: no request of the chat page or the admin pages answers 404 (the
icon included), and the login page tells, in the page's language, how long to wait after too
many failed attempts. Screenshots go where tests/support/browser.py keeps them."""
from __future__ import annotations

import pytest

from smartbot.auth.accounts import create_admin
from tests.support.browser import screenshot

PASSWORD = "correct horse battery"


def _watch_404s(page) -> list[str]:
    missing: list[str] = []
    page.on("response", lambda resp: missing.append(resp.url) if resp.status == 404 else None)
    return missing


def _log_in(page, name: str, password: str) -> None:
    page.fill("input[name=name]", name)
    page.fill("input[name=password]", password)
    with page.expect_navigation():
        page.click("#login")


def _icon_of(page) -> tuple[int, str]:
    """The status and type of the icon the page links (Chromium fetches icons out of Playwright's
    sight, so the test fetches the linked address itself)."""
    href = page.eval_on_selector("link[rel=icon]", "link => link.href")
    resp = page.request.get(href)
    return resp.status, resp.headers.get("content-type", "")


def test_no_request_of_the_chat_and_admin_pages_answers_404(browser, live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    page = browser.new_page(locale="en-US")
    missing = _watch_404s(page)
    page.goto(app.url + "/")
    assert page.url == app.url + "/chat"
    page.wait_for_selector("form")
    icons = [_icon_of(page)]
    page.goto(app.url + "/admin/login")
    icons.append(_icon_of(page))
    _log_in(page, "root", PASSWORD)
    page.wait_for_selector("text=Recent activity")
    page.goto(app.url + "/admin/users")
    page.wait_for_load_state("networkidle")
    icons.append(_icon_of(page))
    assert missing == []
    assert all(status == 200 and kind.startswith("image/svg+xml") for status, kind in icons), icons
    screenshot(page, "favicon-admin-users")


@pytest.mark.parametrize("locale, wait_text", [("zh-CN", "尝试次数过多，请在 30 秒后重试。"),
                                                ("en-US", "Too many attempts. Try again in 30 s.")])
def test_the_login_page_says_how_long_to_wait_in_its_language(browser, live_app, make_config, locale, wait_text):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    page = browser.new_page(locale=locale)
    page.goto(app.url + "/admin/login")
    for _ in range(5):
        _log_in(page, "root", "not the password")
    assert page.locator(".flash.error").inner_text() == wait_text
    screenshot(page, f"login-too-many-attempts-{locale}")
    _log_in(page, "root", PASSWORD)             # the right password waits too, without a look at it
    assert "/admin/login" in page.url and page.locator(".flash.error").inner_text().startswith(wait_text[:6])
