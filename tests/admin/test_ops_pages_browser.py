"""The operations pages in a real headless Chromium against the app under gunicorn: the dashboard
with the model down (while /readyz stays ready), usage charts drawn from real usage, a failed reply
retried from the queues page and delivered, another dropped, model routes added and removed, and
the metrics at a glance. Every page is shot in English and Chinese into tests/screenshots/."""
from __future__ import annotations

import re

import pytest
import requests

from tests.support.api_client import ADMIN_PASSWORD, login
from tests.support.browser import csp_violations, screenshot, watch_console
from tests.support.fake_model import FakeModel
from tests.support.ops_site import Site, start_site
from tests.support.waiting import wait_until


@pytest.fixture
def site(gunicorn_app, make_config, database_url, fake_model):
    started: list[Site] = []

    def start(model=fake_model) -> Site:
        started.append(start_site(gunicorn_app, make_config(model=model), database_url))
        return started[-1]
    yield start
    for one in started:
        one.db.dispose()


def logged_in(browser, url: str, locale: str = "en-US"):
    page = browser.new_page(locale=locale)
    page.goto(url + "/admin/login")
    page.fill("input[name=name]", "root")
    page.fill("input[name=password]", ADMIN_PASSWORD)
    page.click("#login")
    page.wait_for_selector("#readiness")
    return page


def both_languages(page, path: str, name: str, english: str, chinese: str) -> None:
    """Shoot the page in English and in Chinese, checking a text of each."""
    for lang, text in (("en", english), ("zh-CN", chinese)):
        page.goto(page.url.split("/admin")[0] + f"{path}{'&' if '?' in path else '?'}lang={lang}")
        assert page.get_by_text(text).count() >= 1, (lang, text)
        screenshot(page, f"ops-{name}-{lang}")
    page.goto(page.url.split("/admin")[0] + "/admin/?lang=en")


def test_the_dashboard_shows_the_model_down_while_readyz_stays_ready(browser, site, fake_platform):
    model = FakeModel().start()
    ops = site(model)
    refused = browser.new_page()
    refused.goto(ops.url + "/admin/login")
    refused.fill("input[name=name]", "root")
    refused.fill("input[name=password]", "not the password")
    refused.click("#login")
    ops.say("before", text="before")
    assert fake_platform.wait_for(1)[0]["json"]["text"] == "echo: before"
    model.kill()                                        # the model's server is gone
    ops.say("during", text="during")
    assert wait_until(lambda: len(fake_platform.texts()) == 2, 20), ops.app.log()
    ready = requests.get(ops.url + "/readyz", timeout=10)
    assert ready.status_code == 200 and ready.json()["status"] == "ready"
    assert "models" not in ready.json()["checks"]

    page = logged_in(browser, ops.url)
    console = watch_console(page)
    page.goto(ops.url + "/admin/")
    model_row = page.locator("#model-main")
    assert model_row.locator(".verdict").inner_text().startswith("down")
    assert "no answer" in model_row.locator(".probe").inner_text()
    assert page.locator("#readiness").inner_text() == "ready"
    for check in ("database", "workers", "channels"):
        assert "✔" in page.locator(f"#check-{check} .state").inner_text(), check
    assert "generic" in page.locator("#channel-generic").inner_text()
    errors = page.locator("#errors-last-hour a")
    assert int(errors.inner_text()) >= 1
    assert re.search(r"/admin/audit\?(?=.*result=error)(?=.*hours=1)", errors.get_attribute("href"))
    assert page.locator("#refused-logins").inner_text().strip() == "1"
    assert "result=refused" in page.locator("#refused-logins a").get_attribute("href")
    for queue in ("inbox", "outbox"):
        cell = page.locator(f"#queue-{queue} .depth").inner_text()
        assert cell == "empty" or re.fullmatch(r"\d+ waiting, oldest .+", cell), cell
    assert "{" not in page.locator("#figures").inner_text()
    screenshot(page, "ops-dashboard-model-down-en")
    page.goto(ops.url + "/admin/?lang=zh-CN")
    assert page.locator("#model-main .verdict").inner_text().startswith("不可用")
    assert page.locator("#readiness").inner_text() == "就绪"
    screenshot(page, "ops-dashboard-model-down-zh-CN")
    assert csp_violations(console) == [], console


def test_usage_charts_are_drawn_from_real_usage(browser, site, fake_platform):
    ops = site()
    for i, user in enumerate(("alice", "alice", "bob")):
        ops.say(f"use-{i}", user=user)
    fake_platform.wait_for(3)
    page = logged_in(browser, ops.url)
    console = watch_console(page)
    page.click("nav >> text=Usage")
    page.click("#period-7")
    page.wait_for_selector("#chart-day-tokens")
    assert page.locator("#period-7").get_attribute("aria-current") == "page"
    assert page.locator("#usage-totals").inner_text().split() == ["Calls", "3", "Tokens", "45", "Cost", "0.0000"]
    titles = page.locator("#chart-day-tokens rect title").all_text_contents()
    assert any(t.endswith(": 30 Prompt tokens") for t in titles) and \
        any(t.endswith(": 15 Completion tokens") for t in titles), titles
    assert page.locator("#chart-day-tokens").get_attribute("role") == "img"
    assert page.locator("#chart-day-tokens-title").text_content() == "Tokens per day"
    users = page.locator("#chart-user text.name").all_text_contents()
    assert users == ["generic:alice", "generic:bob"]
    assert page.locator("#chart-user text.note").all_text_contents() == ["30 tokens · 0.0000", "15 tokens · 0.0000"]
    assert page.locator("#chart-model text.name").all_text_contents() == ["fake-1"]
    assert page.locator("#chart-provider text.name").all_text_contents() == ["main"]
    page.locator("#usage-user").evaluate("t => t.closest('details').open = true")
    assert page.locator("#usage-user").inner_text().split("\n")[1].split("\t") == \
        ["generic:alice", "2", "20", "10", "30", "0.0000"]
    api = login(ops.url, "root")
    by_model = api.get("/usage?by=model").json()
    assert [(i["model"], i["tokens"], i["calls"]) for i in by_model["items"]] == [("fake-1", 45, 3)]
    screenshot(page, "ops-usage-en")
    both_languages(page, "/admin/usage?period=7", "usage", "Per model", "按模型")
    assert csp_violations(console) == [], console


def test_a_failed_reply_is_retried_from_the_queues_page_and_another_dropped(browser, site, fake_platform):
    ops = site()
    retried = ops.fail_a_reply(fake_platform, "retry-me")
    dropped = ops.fail_a_reply(fake_platform, "drop-me")
    page = logged_in(browser, ops.url)
    console = watch_console(page)
    page.click("nav >> text=Queues")
    page.wait_for_selector("#queue-overview")
    assert page.locator("#overview-outbox .failed").inner_text() == "2"
    assert "echo: retry-me" in page.locator(f"#outbox-{retried}").inner_text()
    screenshot(page, "ops-queues-en")
    page.locator(f"#outbox-{retried} button.retry").click()
    page.wait_for_selector(".flash.ok")
    assert f"Entry {retried} is queued again" in page.locator(".flash.ok").inner_text()
    assert wait_until(lambda: "echo: retry-me" in fake_platform.texts(), 15), fake_platform.texts()
    assert page.locator(f"#outbox-{retried}").count() == 0
    page.locator(f"#outbox-{dropped} button.drop").click()
    page.wait_for_selector(f"text=Entry {dropped} was dropped.")
    assert page.locator(f"#outbox-{dropped}").count() == 0
    assert page.locator("#overview-outbox .failed").inner_text() == "0"
    assert ops.failed_replies() == [] and "echo: drop-me" not in fake_platform.texts()
    assert [(a.actor, a.target) for a in ops.audit("queue.retried")] == [("admin:root", f"outbox:{retried}")]
    assert [(a.actor, a.target) for a in ops.audit("queue.dropped")] == [("admin:root", f"outbox:{dropped}")]
    ops.fail_a_reply(fake_platform, "still-failed")        # something to see in the shots
    both_languages(page, "/admin/queues", "queues", "Failed replies (outbox)", "失败的回复（发件队列）")
    assert csp_violations(console) == [], console


def test_model_routes_are_added_changed_and_removed_on_their_page(browser, site):
    ops = site()
    page = logged_in(browser, ops.url)
    console = watch_console(page)
    page.click("nav >> text=Model routes")
    form = page.locator("#new-route")
    form.locator("input[name=name]").fill("faq")
    form.locator("textarea[name=match]").fill('{"keywords": ["price", "refund"]}')
    form.locator("input[name=position]").fill("10")
    form.locator("button[type=submit]").click()
    page.wait_for_selector("#route-faq")
    assert "price" in page.locator("#route-faq").inner_text() and "main" in page.locator("#route-faq").inner_text()
    screenshot(page, "ops-model-routes-en")
    page.locator("#route-faq summary").click()
    page.locator("#route-faq input[name=cache_ttl]").fill("60")
    page.locator("#route-faq form.route-form button[type=submit]").click()
    page.wait_for_selector("#route-faq >> text=60.0 s")
    form = page.locator("#new-route")
    form.locator("input[name=name]").fill("broken")
    form.locator("textarea[name=match]").fill('{"colour": "red"}')
    form.locator("button[type=submit]").click()
    page.wait_for_selector(".flash.error")
    assert page.locator("#route-broken").count() == 0
    both_languages(page, "/admin/model-routes", "model-routes", "New model route", "新建模型路由")
    page.goto(ops.url + "/admin/model-routes")
    page.locator("#route-faq summary").click()
    page.locator("#route-faq button.danger").click()
    page.wait_for_selector("text=Deleted.")
    assert page.locator("#route-faq").count() == 0
    assert [a.target for a in ops.audit("model_route.created")] == ["faq"]
    assert [a.target for a in ops.audit("model_route.updated")] == ["faq"]
    assert [a.target for a in ops.audit("model_route.deleted")] == ["faq"]
    assert csp_violations(console) == [], console


def test_the_metrics_at_a_glance_add_up_what_the_workers_counted(browser, site, fake_platform):
    ops = site()
    for i in range(4):
        ops.say(f"count-{i}", user=f"u{i}")
    fake_platform.wait_for(4)
    page = logged_in(browser, ops.url)
    console = watch_console(page)
    page.click("nav >> text=Metrics")
    page.wait_for_selector("#glance-totals")

    def all_counted() -> bool:
        page.reload()
        return page.locator("#delivered").inner_text() == "4"
    assert wait_until(all_counted, 10, every=0.3)
    assert page.locator("#handled").inner_text() == "4" and page.locator("#handled-errors").inner_text() == "0"
    assert page.locator("#latency-p50").inner_text().endswith("ms")
    assert page.locator("#model-main").inner_text().split("\t")[:3] == ["main", "4", "0"]
    both_languages(page, "/admin/metrics", "metrics", "Reply latency", "回复延迟")
    assert csp_violations(console) == [], console
