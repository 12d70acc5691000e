"""The admin page's providers, commands and approvals pages, driven over HTTP with the page's own
forms (cookie login, CSRF token): changes go through the API's code and are audited alike."""
from __future__ import annotations

import json
import time

import pytest
import sqlalchemy as sa

from smartbot.auth.accounts import create_admin
from tests.support.admin_page import AdminPage
from tests.support.executor import Chat, add_command, bind, script

PASSWORD = "correct horse battery"


@pytest.fixture
def admin(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model, approvals={"notify": ["generic:ops"], "expire_minutes": 30}))
    create_admin(app.runtime.db, "root", PASSWORD)
    return app, AdminPage(app.url, "root", PASSWORD)


@pytest.mark.parametrize("path", ["/admin/", "/admin/users", "/admin/roles", "/admin/rules", "/admin/providers",
                                  "/admin/commands", "/admin/approvals", "/admin/audit", "/admin/conversations",
                                  "/admin/workflows"])
@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_every_page_renders_in_both_languages(admin, path, lang):
    app, browser = admin
    resp = browser.get(path + f"?lang={lang}")
    assert resp.status_code == 200
    assert ("退出" if lang == "zh-CN" else "Log out") in resp.text


def test_a_command_made_on_the_page_is_checked_like_the_apis(admin):
    app, browser = admin
    good = {"name": "hello", "description": "say hello", "argv": [script("print('hello')")]}
    assert "Saved." in browser.post("/admin/commands", {"definition": json.dumps(good)}).text
    bad = {"name": "shelly", "argv": ["/bin/sh", "-c", "id"]}
    page = browser.post("/admin/commands", {"definition": json.dumps(bad)}).text
    assert "Saved." not in page and "shell" in page.lower()
    assert "not valid JSON" in browser.post("/admin/commands", {"definition": "{oops"}).text
    with app.runtime.db.read() as conn:
        actions = conn.execute(sa.text("SELECT action FROM audit_log WHERE action LIKE 'command.%'")).scalars().all()
    assert actions == ["command.created", "command.definition_refused"]     # the shell is refused and audited


def test_starter_commands_are_shown_read_only_on_the_page(admin):
    app, browser = admin
    page = browser.get("/admin/commands").text
    disk = page[page.index('id="command-disk"'):]
    disk = disk[:disk.index("</tr>")]
    assert "starter command (read-only" in disk and "commands_update" not in disk and "<textarea" not in disk
    resp = browser.post("/admin/commands/disk", {"definition": json.dumps({"argv": ["cat", "/etc/shadow"]})})
    assert "Saved." not in resp.text and "starter command" in resp.text
    with app.runtime.db.read() as conn:
        argv = conn.execute(sa.text("SELECT argv FROM commands WHERE name = 'disk'")).scalar()
    assert "df" in str(argv) and "shadow" not in str(argv)


def test_a_request_is_approved_on_the_page(admin, fake_platform):
    app, browser = admin
    db = app.runtime.db
    add_command(db, "deploy", [script("import sys; print('deployed', sys.argv[1])"), "{version}"],
                [{"name": "version", "type": "regex", "pattern": r"v[0-9]{1,3}"}], needs_approval=True)
    bind(db, "usr", "uma", ["operator"])
    chat = Chat(app, fake_platform)
    assert "needs an approval" in chat.say("/deploy v7", user="usr", chat="dev")
    assert "#1" in browser.get("/admin/approvals").text
    browser.post("/admin/approvals/1/approve", {})
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and not any("deployed v7" in t for t in chat.in_chat("dev")):
        time.sleep(0.1)
    assert any("deployed v7" in t for t in chat.in_chat("dev"))
    with db.read() as conn:
        assert conn.execute(sa.text("SELECT decided_by FROM approvals WHERE id = 1")).scalar() == "admin:root"


def test_a_page_form_without_its_csrf_token_changes_nothing(admin):
    app, browser = admin
    resp = browser.s.post(app.url + "/admin/providers/active", data={"default": "main"}, timeout=10)
    assert resp.status_code == 400


def test_the_provider_form_keeps_keys_where_they_were_confirmed(admin, fake_model, monkeypatch):
    """The page's edit form sends every field back: an unchanged key variable must not confirm the
    key for a new base_url; the confirm box does. Refusals show their reason on the page."""
    from tests.support.fake_model import FakeModel

    app, browser = admin
    monkeypatch.setenv("PAGE_API_KEY", "sk-page-0001")
    form = {"name": "paged", "kind": "openai", "base_url": fake_model.base_url, "model": "m-1", "enabled": "on"}
    refused = browser.post("/admin/providers", {**form, "api_key_env": "SMARTBOT_SECRET_KEY"}).text
    assert "Saved." not in refused and "api_key_env: SMARTBOT_SECRET_KEY belongs to SmartBot itself" in refused
    assert "Saved." in browser.post("/admin/providers", {**form, "api_key_env": "PAGE_API_KEY"}).text
    assert "paged: OK" in browser.post("/admin/providers/paged/test", {}).text
    other = FakeModel().start()
    try:
        edit = {"model": "m-1", "base_url": other.base_url, "api_key_env": "PAGE_API_KEY", "enabled": "on"}
        page = browser.post("/admin/providers/paged", edit).text
        assert "Saved." in page and "is not sent there until confirmed" in page
        tested = browser.post("/admin/providers/paged/test", {}).text
        assert "paged: key_withheld:" in tested and other.calls() == 0
        assert "Saved." in browser.post("/admin/providers/paged", {**edit, "confirm_key": "on"}).text
        assert "paged: OK" in browser.post("/admin/providers/paged/test", {}).text
        assert other.requests[-1]["headers"]["Authorization"] == "Bearer sk-page-0001"
    finally:
        other.stop()
    with app.runtime.db.read() as conn:
        actions = conn.execute(sa.text("SELECT action FROM audit_log WHERE action LIKE 'provider.%' ORDER BY seq"))
        assert [a for (a,) in actions] == ["provider.refused", "provider.created", "provider.key_confirmed",
                                           "provider.tested", "provider.updated", "provider.tested",
                                           "provider.updated", "provider.key_confirmed", "provider.tested"]
