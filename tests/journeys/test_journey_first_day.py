"""A newcomer's first day with SmartBot, in one browser session, in English and in Chinese.

From a fresh data directory (the app under gunicorn with no provider, no user but the admin that
start.sh makes, and `default_locale` set to the journey's language): log in to the admin page, add
a provider (the fake model server), chat in the web chat, bind that chat's sender to a new user
with the one-click Bind and give them a role, add a command that needs an approval and run it from
the chat, approve it on the admin page and read the outcome in the chat, run a workflow from the
page into the chat, and read what happened in the audit log and the conversations.
Only what the pages show is used: links, forms, buttons.

Every admin page on the way, in zh-CN, shows no English (the rules of test_admin_languages), and a
screenshot of each step in each language goes to tests/screenshots/journey-<lang>-<nn>-<step>.png.
"""
from __future__ import annotations

import json
import re

import pytest

from tests.admin.test_admin_languages import VISIBLE_TEXT, _data_words, english_words
from tests.support.admin_site import PASSWORD, AdminSite
from tests.support.browser import csp_violations, screenshot, watch_console
from tests.support.executor import script
from tests.webchat.chat_browser import ChatPage

WAIT_MS = 20000
DEPLOY = {"name": "deploy", "description": "Deploy a version", "permission": "",
          "argv": [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
          "params": [{"name": "version", "type": "regex", "pattern": "v[0-9]{1,3}"}],
          "timeout": 10, "needs_approval": True}


class Journey:
    """One person's browser: an admin tab and a web chat tab, with a numbered screenshot per step."""

    def __init__(self, browser, site: AdminSite, lang: str) -> None:
        self.site, self.url, self.lang = site, site.url, lang
        self.browser_locale = "zh-CN" if lang == "zh-CN" else "en-US"
        self.context = browser.new_context(locale=self.browser_locale, viewport={"width": 1280, "height": 900})
        self.admin = self.context.new_page()
        self.console = watch_console(self.admin)
        self.chat = ChatPage(self.context.new_page(), self.url)
        self.step = 0
        self.english: dict[str, list[str]] = {}

    def shot(self, page, name: str) -> None:
        self.step += 1
        screenshot(page, f"journey-{self.lang}-{self.step:02d}-{name}")

    def admin_page(self, link: str, name: str) -> None:
        """Follow a link of the admin page's navigation (as a person finds the page) and look at it."""
        self.admin.locator(f"header nav a[href$='{link}']").first.click()
        self.admin.wait_for_load_state()
        self.look(name)

    def look(self, name: str) -> None:
        self.shot(self.admin, name)
        if self.lang == "zh-CN":
            typed = set(re.findall(r"[A-Za-z]+", DEPLOY["description"])) | {"local", "version"}   # as typed
            left = english_words(self.admin.evaluate(VISIBLE_TEXT), _data_words(self.site.db) | typed)
            if left:
                self.english[name] = sorted(set(left))

    def flash(self) -> str:
        return self.admin.locator(".flash").first.inner_text()


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_newcomers_first_day_from_login_to_the_audit_log(browser, gunicorn_app, make_config, fake_model, lang):
    # start.sh made the admin and nothing else; a Chinese deployment sets default_locale, as the example
    # config says: the language of what the bot sends later, unasked (an approval's outcome, a run's end).
    site = AdminSite(gunicorn_app(make_config(default_locale=lang)), admin="root")
    journey = Journey(browser, site, lang)
    try:
        _first_day(journey, fake_model)
    finally:
        journey.context.close()         # before the app stops: its open web chat keeps a request waiting
        site.close()


def _first_day(j: Journey, fake_model) -> None:
    admin, url = j.admin, j.url
    # 1. Log in (the login page offers both languages).
    admin.goto(f"{url}/admin/login?lang={j.lang}")
    j.look("login")
    admin.fill("input[name=name]", "root")
    admin.fill("input[name=password]", PASSWORD)
    admin.click("#login")
    admin.wait_for_url(f"{url}/admin/")
    j.look("dashboard")

    # 2. Add a provider: the form says what each field is; the only provider becomes the default.
    j.admin_page("/admin/providers", "providers-empty")
    form = admin.locator("#new-provider")
    form.locator("input[name=name]").fill("local")
    form.locator("select[name=kind]").select_option("openai")
    form.locator("input[name=base_url]").fill(fake_model.base_url)
    form.locator("input[name=model]").fill("fake-model")
    form.locator("button[type=submit]").click()
    admin.wait_for_selector("#provider-local")
    assert admin.locator("#provider-local strong.ok").count() == 1          # marked as the default
    j.look("providers-added")

    # 3. Chat in the web chat, in the same browser.
    chat = j.chat
    chat.goto(f"?lang={j.lang}")
    chat.say("hello there", "echo: hello there")
    chat.send("/whoami")
    who = chat.wait_for_bot(f"webchat:{chat.chat_id}").inner_text()
    j.shot(chat.page, "chat-first-words")

    # 4. Bind that sender to a new user with one click, then give the user a role.
    admin.bring_to_front()
    j.admin_page("/admin/users", "users-unbound")
    new_user = admin.locator("#new-user")
    new_user.locator("input[name=name]").fill("li")
    new_user.locator("input[value='user']").check()
    new_user.locator("button[type=submit]").click()
    admin.wait_for_selector("#user-li")
    row = admin.locator(f"#unbound-webchat-{chat.chat_id}")
    assert f"webchat:{chat.chat_id}" in who and row.count() == 1      # /whoami named the row to bind
    row.locator("select[name=user_id]").select_option(label="li")
    row.locator(".bind-button").click()
    admin.wait_for_selector(f"#user-li .identities code:has-text('webchat:{chat.chat_id}')")
    assert admin.locator(f"#unbound-webchat-{chat.chat_id}").count() == 0
    j.look("users-bound")
    li = admin.locator("#user-li form").first
    li.locator("input[value='operator']").check()
    li.locator("button[type=submit]").click()
    admin.wait_for_selector(".flash.ok")
    assert admin.locator("#user-li input[value='operator']").is_checked()
    j.look("users-role-given")

    # 5. A command that needs an approval, defined on the commands page.
    j.admin_page("/admin/commands", "commands")
    admin.locator("#new-command textarea[name=definition]").fill(json.dumps(DEPLOY))
    admin.locator("#new-command button[type=submit]").click()
    admin.wait_for_selector("#command-deploy")
    j.look("command-added")

    # 6. li asks for it in the chat; the bot says it waits for an approval.
    chat.page.bring_to_front()
    chat.send("/deploy v7")
    chat.wait_for_bot("#1")
    j.shot(chat.page, "chat-waits-for-approval")

    # 7. The admin approves it; the outcome arrives in the open chat.
    admin.bring_to_front()
    j.admin_page("/admin/approvals", "approvals-pending")
    pending = admin.locator("#pending #approval-1")
    assert "deploy" in pending.inner_text() and "li" in pending.inner_text()
    pending.locator("button:not(.danger)").click()
    admin.wait_for_selector("#pending #approval-1", state="detached")
    assert "#1" in j.flash()                                        # says which request, not just "saved"
    j.look("approvals-decided")
    chat.page.bring_to_front()
    outcome = chat.wait_for_bot("deployed v7").inner_text()
    assert ("已批准并运行" if j.lang == "zh-CN" else "was approved and run") in outcome, outcome
    j.shot(chat.page, "chat-approved-and-ran")

    # 8. A workflow from the page into this chat (the page's own example).
    admin.bring_to_front()
    j.admin_page("/admin/workflows", "workflows")
    admin.locator("#new-workflow button[type=submit]").click()
    admin.wait_for_selector("#workflow-my-workflow")
    run_form = admin.locator("#workflow-my-workflow form.run")
    run_form.locator("select[name=chat]").select_option(value=f"webchat:{chat.chat_id}")
    run_form.locator(".run-button").click()
    admin.wait_for_url(re.compile(r".*/admin/workflows/runs/1$"))
    admin.wait_for_selector("#run[data-finished=yes]", timeout=WAIT_MS)
    j.look("workflow-run")
    chat.page.bring_to_front()
    chat.wait_for_bot("load average")
    chat.wait_for_bot("工作流 my-workflow" if j.lang == "zh-CN" else "Workflow my-workflow")
    j.shot(chat.page, "chat-workflow-result")

    # 9. What happened: the audit log names people, the conversation shows every turn.
    admin.bring_to_front()
    j.admin_page("/admin/audit", "audit")
    events = admin.locator("#audit-events").inner_text()
    for action in ("provider.created", "identity.bind", "user.update", "command.created"):
        assert action in events, action
    assert "li" in admin.locator("#audit-events .who").all_inner_texts()
    j.admin_page("/admin/conversations", "conversations")
    admin.locator("#conversations tr.conversation a").first.click()
    admin.wait_for_selector("#conversation")
    turns = admin.locator(".turn .text").all_inner_texts()
    assert "hello there" in turns and "/deploy v7" in turns, turns
    j.look("conversation")

    assert j.english == {}, j.english
    problems = j.console + chat.problems()
    assert csp_violations(problems) == [] and not [p for p in problems if p.startswith("uncaught")], problems
