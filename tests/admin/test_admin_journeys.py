"""The admin page's people and records pages in a real Chromium against the app under gunicorn:
binding a web chat visitor in one click, running a workflow into their chat, the roles page's
wildcards, the audit log (JSON, names, result filter, CSV) and the conversations (search, pages).
Screenshots go to tests/screenshots/."""
from __future__ import annotations

import csv
import io
import re

import pytest
import requests

from tests.support.admin_site import AdminSite, Visitor
from tests.support.browser import csp_violations, screenshot, watch_console


@pytest.fixture
def site(gunicorn_app, make_config, fake_model):
    running = AdminSite(gunicorn_app(make_config(model=fake_model)))
    yield running
    running.close()


def _clean(console: list[str]) -> None:
    assert csp_violations(console) == [] and not [p for p in console if p.startswith("uncaught")], console


def _create_user(page, url: str, name: str, role: str) -> None:
    page.goto(url + "/admin/users")
    form = page.locator("#new-user")
    form.locator("input[name=name]").fill(name)
    form.locator(f"input[value='{role}']").check()
    form.locator("button[type=submit]").click()
    page.wait_for_selector(f"#user-{name}")


def test_the_admin_binds_a_web_chat_visitor_with_one_click(browser, site):
    visitor = Visitor(site)
    page = site.log_in(browser)
    console = watch_console(page)
    _create_user(page, site.url, "li", "user")
    row = page.locator(f"#unbound-webchat-{visitor.chat_id}")
    assert f"webchat:{visitor.chat_id}" in row.inner_text()
    screenshot(page, "journey-users-unbound-en")
    row.locator("select[name=user_id]").select_option(label="li")
    row.locator(".bind-button").click()
    page.wait_for_selector(f"text=webchat:{visitor.chat_id} is now bound to li.")
    assert page.locator(f"#unbound-webchat-{visitor.chat_id}").count() == 0
    assert f"webchat:{visitor.chat_id}" in page.locator("#user-li .identities").inner_text()
    screenshot(page, "journey-users-bound-en")
    visitor.say("/whoami")
    assert any(text == "li (user)" for text in visitor.wait_for("li (user)"))
    page.goto(site.url + "/admin/users?lang=zh-CN")
    assert page.locator("#users th").first.inner_text() == "用户名"
    screenshot(page, "journey-users-zh-CN")
    _clean(console)


def test_a_workflow_run_from_the_page_answers_in_the_web_chat(browser, site):
    visitor = Visitor(site)
    page = site.log_in(browser)
    console = watch_console(page)
    page.goto(site.url + "/admin/workflows")
    page.locator("#new-workflow button[type=submit]").click()         # the example, as the page offers it
    page.wait_for_selector("#workflow-my-workflow")
    run_form = page.locator("#workflow-my-workflow form.run")
    run_form.locator("select[name=chat]").select_option(value=f"webchat:{visitor.chat_id}")
    screenshot(page, "journey-workflows-en")
    run_form.locator(".run-button").click()
    page.wait_for_url(re.compile(r".*/admin/workflows/runs/1$"))
    assert page.locator("text=Run #1 of my-workflow started.").count() == 1
    page.wait_for_selector("#run[data-finished=yes]", timeout=20000)
    assert "succeeded" in page.locator("#run-status").inner_text()
    screenshot(page, "journey-workflow-run-en")
    assert any("load average" in text for text in visitor.wait_for("load average"))
    page.goto(site.url + "/admin/workflows/runs/1?lang=zh-CN")
    assert "成功" in page.locator("#run-status").inner_text()
    screenshot(page, "journey-workflow-run-zh-CN")
    page.goto(site.url + "/admin/workflows")
    schedule = page.locator("#new-schedule")
    schedule.locator("input[name=cron]").fill("0 6 * * *")
    schedule.locator("button[type=submit]").click()
    next_run = page.locator("#schedules .next-run time").first
    assert "UTC" in next_run.get_attribute("title") and "UTC" not in next_run.inner_text()   # the reader's time
    assert re.search(r"\d", next_run.inner_text())
    _clean(console)


def test_a_wildcard_shows_what_it_includes_on_the_roles_page(browser, site):
    page = site.log_in(browser)
    page.goto(site.url + "/admin/roles")
    implied = page.locator("#role-operator input[value='command:run:*']")
    assert implied.is_checked() and implied.is_disabled()
    assert "included in command:*" in page.locator("#role-operator label.implied").first.inner_text()
    partial = page.locator("td.some").first
    assert "disk" in partial.inner_text() and "command:run:disk" in partial.get_attribute("title")
    screenshot(page, "journey-roles-en")
    page.goto(site.url + "/admin/roles?lang=zh-CN")
    assert "已包含在 command:* 中" in page.locator("#role-operator label.implied").first.inner_text()
    screenshot(page, "journey-roles-zh-CN")


def test_the_audit_log_reads_as_json_with_names_a_result_filter_and_a_csv(browser, site):
    visitor = Visitor(site)
    page = site.log_in(browser)
    _create_user(page, site.url, "li", "user")
    row = page.locator(f"#unbound-webchat-{visitor.chat_id}")
    row.locator("select[name=user_id]").select_option(label="li")
    row.locator(".bind-button").click()
    page.wait_for_selector("text=is now bound to li.")
    visitor.say("/reset")                                  # audited as conversation.reset by the visitor
    visitor.wait_for("")
    refused = requests.post(site.url + "/api/v1/auth/login", json={"name": "root", "password": "wrong"}, timeout=10)
    assert refused.status_code in (401, 429)
    page.goto(site.url + "/admin/audit")
    page.wait_for_selector("#audit-events")
    bind_row = page.locator("#audit-events tr", has_text="identity.bind").first
    bind_row.locator("summary").click()
    assert '"user_id":' in bind_row.locator("pre.json").inner_text()
    assert bind_row.locator(".who").inner_text() == "root"
    actors = page.locator("#audit-events .who").all_inner_texts()
    assert "admin:root" not in actors and "root" in actors and "li" in actors
    screenshot(page, "journey-audit-en")
    page.select_option("#audit-filters select[name=result]", "refused")
    page.fill("#audit-filters input[name=hours]", "1")
    page.click("#audit-filters button[type=submit]")
    page.wait_for_url(re.compile(r".*result=refused.*"))
    results = page.locator("#audit-events td.result").all_inner_texts()
    assert all(r == "refused" for r in results)
    with page.expect_download() as download:
        page.click("#export")
    rows = list(csv.DictReader(io.StringIO(open(download.value.path(), encoding="utf-8").read())))
    assert len(rows) == len(results) and all(r["result"] == "refused" and r["ts"].endswith("Z") for r in rows)
    page.goto(site.url + "/admin/audit?lang=zh-CN")
    screenshot(page, "journey-audit-zh-CN")


def test_conversations_are_searched_and_read_with_their_newlines(browser, site):
    first, second = Visitor(site), Visitor(site)
    first.say("the disk is\nalmost full")
    second.say("all good")
    first.wait_for("almost full")
    page = site.log_in(browser)
    page.goto(site.url + "/admin/conversations")
    assert page.locator("#conversations tr.conversation").count() == 2
    page.fill("#conversation-search input[name=q]", "almost")
    page.click("#conversation-search button[type=submit]")
    page.wait_for_url(re.compile(r".*q=almost.*"))
    assert page.locator("#conversations tr.conversation").count() == 1
    screenshot(page, "journey-conversations-en")
    page.locator("#conversations tr.conversation a").first.click()
    page.wait_for_selector("#conversation")
    texts = page.locator(".turn .text").all_inner_texts()
    assert "the disk is\nalmost full" in texts and "echo: the disk is\nalmost full" in texts
    screenshot(page, "journey-conversation-en")
    page.goto(page.url + "&lang=zh-CN")
    screenshot(page, "journey-conversation-zh-CN")


def test_the_provider_form_suggests_what_goes_with_the_kind(browser, site):
    page = site.log_in(browser)
    page.goto(site.url + "/admin/providers")
    form = page.locator("#new-provider")
    assert form.locator("select[name=kind]").input_value() == "openai"
    assert form.locator("input[name=base_url]").get_attribute("placeholder") == "https://api.openai.com/v1"
    form.locator("select[name=kind]").select_option("anthropic")
    assert form.locator("input[name=base_url]").get_attribute("placeholder") == "https://api.anthropic.com"
    assert form.locator("input[name=api_key_env]").get_attribute("placeholder") == "ANTHROPIC_API_KEY"
    form.locator("select[name=kind]").select_option("ollama")
    assert form.locator("input[name=base_url]").get_attribute("placeholder") == "http://127.0.0.1:11434"
    screenshot(page, "journey-providers-en")
