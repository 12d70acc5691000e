"""The workflows page over HTTP: the example it pre-fills runs from the page, the Run form answers
with the run's number and page and can answer in a chat, and schedules show their next run as a
time."""
from __future__ import annotations

import html
import re

import pytest

from tests.support.admin_page import AdminPage, admin_of
from tests.support.chat import say
from tests.support.workflows import wait_run



@pytest.fixture
def site(live_app, make_config):
    app = live_app(make_config())
    return app, admin_of(app)


def _example(page: AdminPage) -> str:
    shown = page.get("/admin/workflows").text
    form = shown[shown.index('id="new-workflow"'):]
    return html.unescape(re.search(r'<textarea name="yaml"[^>]*>(.*?)</textarea>', form, re.S).group(1))


def test_the_example_the_page_offers_runs_from_the_page_and_shows_its_output(site):
    app, page = site
    assert "Saved." in page.post("/admin/workflows", {"yaml": _example(page)}).text
    started = page.post("/admin/workflows/my-workflow/run", {"args": "", "chat": ""})
    assert started.url.endswith("/admin/workflows/runs/1")
    assert "Run #1 of my-workflow started." in started.text and "No chat: the messages are shown here." in started.text
    run = wait_run(app.runtime.db, 1)
    assert run.status == "succeeded", run.error
    shown = page.get("/admin/workflows/runs/1").text
    outputs = [html.unescape(o) for o in re.findall(r'<pre class="output">(.*?)</pre>', shown, re.S)]
    assert len(outputs) == 2 and "load average" in outputs[0] and outputs[1].strip() == outputs[0].strip()
    assert 'data-finished="yes"' in shown and "window.location.reload" not in shown
    listing = page.get("/admin/workflows").text
    assert '<a href="/admin/workflows/runs/1">1</a>' in listing


def test_a_run_from_the_page_answers_in_the_chat_chosen(site, fake_platform):
    app, page = site
    say(app, fake_platform, "/whoami", "first", chat="ops-room")          # the chat is known once it wrote
    assert '<option value="generic:ops-room"' in page.get("/admin/workflows").text
    page.post("/admin/workflows", {"yaml": "name: hello\nsteps:\n  - {name: tell, kind: message, "
                                           "text: \"hello {{ args.who }}\"}\n"})
    started = page.post("/admin/workflows/hello/run", {"args": "who=team", "chat": "generic:ops-room"})
    assert "Messages and the outcome go to generic:ops-room." in started.text
    assert wait_run(app.runtime.db, 1).status == "succeeded"
    got = fake_platform.wait_for(3, 10)
    assert [r["json"]["text"] for r in got if r["json"]["chat_id"] == "ops-room"][1] == "hello team"


@pytest.mark.parametrize("chat, problem", [("nowhere:room", "is not configured"), ("generic", "choose a chat"),
                                           ("generic:" + "x" * 201, "chat_id")])
def test_a_run_into_a_chat_that_cannot_be_is_refused_with_the_reason(site, chat, problem):
    app, page = site
    page.post("/admin/workflows", {"yaml": "name: hello\nsteps:\n  - {name: tell, kind: message, text: hi}\n"})
    shown = page.post("/admin/workflows/hello/run", {"args": "", "chat": chat}).text
    assert 'class="flash error"' in shown and problem in shown
    with app.runtime.db.read() as conn:
        assert conn.exec_driver_sql("SELECT count(*) FROM workflow_runs").scalar() == 0


def test_a_schedule_shows_its_next_run_as_a_time_not_a_number(site):
    app, page = site
    page.post("/admin/workflows", {"yaml": "name: hello\nsteps:\n  - {name: tell, kind: message, text: hi}\n"})
    shown = page.post("/admin/schedules", {"workflow": "hello", "cron": "0 6 * * *", "owner": "", "chat": "",
                                           "args": ""}).text
    cell = re.search(r'<td class="next-run">(.*?)</td>', shown).group(1)
    assert re.fullmatch(r'<time datetime="\d{4}-\d\d-\d\dT06:00:00Z">\d{4}-\d\d-\d\d 06:00:00 UTC</time>', cell), cell
