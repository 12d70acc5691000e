"""A refusal from the service layer (manage/, auth/) reads in the admin page's language: in zh-CN
with no English left, in English word for word what the API answers."""
from __future__ import annotations

import html
import re

import pytest
import requests

from smartbot.auth.accounts import create_admin
from tests.admin.test_admin_languages import english_words
from tests.admin.test_admin_people import PASSWORD, account
from tests.support.admin_page import AdminPage
from tests.support.executor import add_role

FLASH = re.compile(r'<div class="flash error" role="alert">(.*?)</div>', re.S)
CODE = re.compile(r"<code>.*?</code>", re.S)

# (path, form, the English message as the page showed it before it could be translated)
REFUSALS = [
    ("/admin/users", {"name": "ursula", "roles": "guest"}, "name: a user named 'ursula' already exists"),
    ("/admin/users", {"name": "  ", "roles": "guest"}, "name: must not be empty"),
    ("/admin/users", {"name": "vera", "password": "short", "roles": "guest"},
     "password: password too weak: use at least 10 characters"),
    ("/admin/users", {"name": "walt", "roles": "admin"},
     "you may not grant the role 'admin': you do not hold '*'"),
    ("/admin/roles", {"name": "helpers", "extra": "nothing:at:all"},
     "permissions[0]: 'nothing:at:all' grants no known permission (see GET /permissions)"),
    ("/admin/roles", {"name": "people-desk", "areas": "chat"}, "name: a role named 'people-desk' already exists"),
    ("/admin/roles/admin/delete", {},
     "the role 'admin' cannot be deleted (it is the admin role or the default role)"),
]
DATA = {"ursula", "vera", "walt", "admin", "guest", "helpers", "people", "desk", "nothing", "at", "all"}


@pytest.fixture
def desk(live_app, make_config):
    """ursula keeps the people (users, roles) but holds little herself."""
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    add_role(app.runtime.db, "people-desk", ["admin:login", "admin:users", "admin:roles", "chat"])
    account(app.runtime.db, "ursula", ["people-desk"])
    return app


def shown(page: AdminPage, path: str, form: dict, lang: str) -> tuple[str, str]:
    """The refusal's message on the page the form leads back to: as HTML, and as a person reads it."""
    page.get(f"/admin/users?lang={lang}")             # the language cookie, as the switch sets it
    resp = page.post(path, form)
    assert resp.status_code == 200, resp.status_code
    found = FLASH.findall(resp.text)
    assert len(found) == 1, resp.text[-2000:]
    return found[0], html.unescape(re.sub(r"<[^>]+>", "", found[0]))


def assert_refusals_read_in(page: AdminPage, refusals, lang: str, data: set[str]) -> None:
    """Each refusal as the page shows it: word for word as before in English; in zh-CN Chinese,
    with no English word left outside code and the given data values."""
    for path, form, english in refusals:
        markup, text = shown(page, path, form, lang)
        if lang == "en":
            assert text == english
        else:
            left = english_words([html.unescape(CODE.sub(" ", markup))], data)
            assert left == [], (english, text, left)
            assert re.search(r"[\u4e00-\u9fff]", text), text


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_a_refusal_reads_in_the_pages_language(desk, lang):
    assert_refusals_read_in(AdminPage(desk.url, "ursula", PASSWORD), REFUSALS, lang, DATA)


def test_the_api_still_answers_the_english_reason(desk):
    """The API's `error` strings are part of the outside contract: the same words in any language."""
    s = requests.Session()
    token = s.post(desk.url + "/api/v1/auth/login", json={"name": "ursula", "password": PASSWORD},
                   headers={"Accept-Language": "zh-CN"}, timeout=10).json()["access_token"]
    resp = s.post(desk.url + "/api/v1/users", json={"name": "walt", "roles": ["admin"]},
                  headers={"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}, timeout=10)
    assert resp.status_code == 403
    assert resp.json()["error"] == "you may not grant the role 'admin': you do not hold '*'"


@pytest.mark.parametrize("lang, expected", [("en", "role people-desk lacks 'admin:providers'"),
                                            ("zh-CN", "角色 people-desk 没有 'admin:providers' 权限")])
def test_a_page_the_admin_may_not_open_says_why_in_the_pages_language(desk, lang, expected):
    page = AdminPage(desk.url, "ursula", PASSWORD)
    resp = page.get(f"/admin/providers?lang={lang}")
    assert resp.status_code == 403
    said = re.search(r'<h2 class="bad">.*?</h2><p>(.*?)</p>', resp.text, re.S).group(1)
    assert html.unescape(said) == expected
