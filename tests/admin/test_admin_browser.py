"""The admin page in a real headless Chromium: log in, create a role, create and bind a user, add and
switch the model provider, see the changes in the audit log, switch language, log out.
Screenshots go to tests/screenshots/."""
from __future__ import annotations

from smartbot.auth.accounts import create_admin
from tests.support.browser import csp_violations, screenshot, watch_console

PASSWORD = "correct horse battery"


def test_admin_journey(browser, live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    create_admin(app.runtime.db, "root", PASSWORD)
    page = browser.new_page(locale="en-US")
    console = watch_console(page)
    page.goto(app.url + "/admin/")
    assert "/admin/login" in page.url
    page.fill("input[name=name]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("text=Recent activity")
    screenshot(page, "01-dashboard")

    page.goto(app.url + "/admin/roles")
    form = page.locator("#new-role")
    form.locator("input[name=name]").fill("night-shift")
    form.locator("input[value='chat']").check()
    form.locator("input[value='admin:login']").check()
    form.locator("textarea[name=extra]").fill("command:run:disk")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#role-night-shift")
    assert page.locator("text=Saved.").count() == 1
    screenshot(page, "02-roles")

    page.goto(app.url + "/admin/users")
    form = page.locator("#new-user")
    form.locator("input[name=name]").fill("li")
    form.locator("input[value='night-shift']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#user-li")
    bind = page.locator("#bind-identity")
    bind.locator("input[name=channel]").fill("generic")
    bind.locator("input[name=platform_user_id]").fill("u-42")
    bind.locator("select[name=user_id]").select_option(label="li")
    bind.locator("button[type=submit]").click()
    page.wait_for_selector("text=generic:u-42")
    screenshot(page, "03-users")

    from tests.support.fake_model import FakeModel

    second = FakeModel().start()
    try:
        page.goto(app.url + "/admin/providers")
        form = page.locator("#new-provider")
        form.locator("input[name=name]").fill("backup")
        form.locator("input[name=base_url]").fill(second.base_url)
        form.locator("input[name=model]").fill("b-1")
        form.locator("button[type=submit]").click()
        page.wait_for_selector("#provider-backup")
        page.locator("#provider-backup .make-default").click()          # switch the provider: one click
        page.wait_for_selector("#provider-backup >> text=(default)")
        assert page.locator("#chain").inner_text().startswith("backup")
        screenshot(page, "04-providers")
        assert app.post_generic({"event_id": "after-switch", "chat_id": "c", "user_id": "u", "text": "hi"}).ok
        for _ in range(100):
            if second.calls():
                break
            page.wait_for_timeout(50)
        assert second.calls() == 1 and fake_model.calls() == 0
    finally:
        second.stop()

    page.goto(app.url + "/admin/audit")
    events = page.locator("#audit-events").inner_text()
    for action in ("role.create", "user.create", "identity.bind", "admin.login", "provider.created",
                   "models.switched"):
        assert action in events
    page.click("#verify")
    assert "intact" in page.locator("#chain").inner_text()
    first_time = page.locator("td.ts time").first
    assert "UTC" not in first_time.inner_text() and "UTC" in first_time.get_attribute("title"), \
        "the page's script did not turn the time into local time"
    assert page.locator("header").evaluate("e => getComputedStyle(e).display") == "flex", "the page's style is off"
    screenshot(page, "05-audit")

    page.goto(app.url + "/admin/roles?lang=zh-CN")
    assert page.locator("text=各角色的权限").count() == 1
    screenshot(page, "06-roles-zh")

    page.click("#logout")
    page.wait_for_selector("#login")
    page.goto(app.url + "/admin/users")
    assert "/admin/login" in page.url
    assert csp_violations(console) == [] and not [p for p in console if p.startswith("uncaught")], console


def test_form_without_csrf_token_is_refused(browser, live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    page = browser.new_page()
    page.goto(app.url + "/admin/login")
    page.fill("input[name=name]", "root")
    page.fill("input[name=password]", PASSWORD)
    page.click("#login")
    page.wait_for_selector("text=Recent activity")
    status = page.evaluate("""async (url) => {
        const r = await fetch(url, {method: 'POST', body: new URLSearchParams({name: 'x'}), credentials: 'same-origin'});
        return r.status; }""", app.url + "/admin/roles")
    assert status == 400
    roles = [r["name"] for r in __import__("smartbot.manage.roles", fromlist=["x"]).list_roles(app.runtime.db)]
    assert "x" not in roles
