"""Users and roles on the admin page, over HTTP with the page's own forms: a sender bound in one
click (and who may not bind whom), the identities beside each user, and role checkboxes that
understand wildcards."""
from __future__ import annotations

import re
import time

import pytest
import sqlalchemy as sa

from smartbot.auth.accounts import create_admin
from smartbot.auth.passwords import hash_password
from smartbot.storage.tables import Identity, User
from tests.support.admin_page import AdminPage
from tests.support.chat import say
from tests.support.executor import add_role, audit_rows
from tests.support.waiting import wait_until

PASSWORD = "correct horse battery"


@pytest.fixture
def site(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    create_admin(app.runtime.db, "root", PASSWORD)
    return app


def account(db, name: str, roles: list[str]) -> int:
    """A user who can log in to the admin page with PASSWORD, holding `roles`."""
    now = time.time()
    with db.write() as conn:
        uid = conn.execute(sa.insert(User.__table__).values(
            name=name, display_name=name, password_hash=hash_password(PASSWORD), is_active=True, locale="",
            created_at=now, updated_at=now).returning(User.__table__.c.id)).scalar()
        for role in roles:
            conn.execute(sa.text("INSERT INTO user_roles (user_id, role_id) SELECT :u, id FROM roles WHERE name = :r"),
                         {"u": uid, "r": role})
    return int(uid)


def bound_to(db, channel: str, platform_user_id: str):
    ident = Identity.__table__
    with db.read() as conn:
        return conn.execute(sa.select(ident.c.user_id).where(ident.c.channel == channel,
                                                            ident.c.platform_user_id == platform_user_id)).scalar()


def seen(app, platform, user: str = "u-9") -> None:
    """A sender writes once, so the gateway remembers them (unbound)."""
    say(app, platform, "/whoami", f"seen-{user}", user=user)
    assert wait_until(lambda: bound_to(app.runtime.db, "generic", user) is None and _known(app, user), 5)


def _known(app, user: str) -> bool:
    ident = Identity.__table__
    with app.runtime.db.read() as conn:
        return conn.execute(sa.select(ident.c.id).where(ident.c.platform_user_id == user)).first() is not None


def test_an_unbound_sender_is_bound_to_a_user_with_one_click(site, fake_platform):
    db = site.runtime.db
    page = AdminPage(site.url, "root", PASSWORD)
    uid = account(db, "li", ["user"])
    seen(site, fake_platform, "u-9")
    users = page.get("/admin/users").text
    row = users[users.index('id="unbound-generic-u-9"'):]
    row = row[:row.index("</tr>")]
    assert "generic:u-9" in row and 'class="bind-button"' in row and f'value="{uid}"' in row
    shown = page.post("/admin/identities", {"channel": "generic", "platform_user_id": "u-9", "user_id": str(uid)}).text
    assert "generic:u-9 is now bound to li." in shown
    assert 'id="unbound-generic-u-9"' not in shown
    li = shown[shown.index('id="user-li"'):]
    assert "generic:u-9" in li[:li.index("</tr>")]
    assert bound_to(db, "generic", "u-9") == uid
    assert audit_rows(db, "identity.bind")[-1].actor == "admin:root"
    assert say(site, fake_platform, "/whoami", "after-bind", user="u-9") == "li (user)"


def test_each_user_row_has_one_cell_per_column(site):
    page = AdminPage(site.url, "root", PASSWORD)
    html = page.get("/admin/users").text
    table = html[html.index('<table id="users">'):html.index("</table>")]
    header, *rows = table.split("<tr")[1:]
    assert header.count("<th") == 4
    for row in rows:
        assert len(re.findall(r"<td[ >]", row)) == 4, row


def test_binding_needs_admin_users_and_admin_roles_is_not_enough(site, fake_platform):
    db = site.runtime.db
    add_role(db, "role-keeper", ["admin:login", "admin:roles"])
    account(db, "rita", ["role-keeper"])
    uid = account(db, "li", ["guest"])
    seen(site, fake_platform, "u-9")
    rita = AdminPage(site.url, "rita", PASSWORD)
    refused = rita.post("/admin/identities", {"channel": "generic", "platform_user_id": "u-9", "user_id": str(uid)})
    assert refused.status_code == 403 and "admin:users" in refused.text
    assert bound_to(db, "generic", "u-9") is None
    assert audit_rows(db, "api.denied")[-1].actor == "admin:rita"


def test_binding_a_sender_to_a_user_who_holds_more_than_the_binder_is_refused(site, fake_platform):
    db = site.runtime.db
    add_role(db, "people-desk", ["admin:login", "admin:users", "chat"])
    account(db, "ursula", ["people-desk"])
    boss = account(db, "boss", ["admin"])
    peer = account(db, "peer", ["guest"])
    seen(site, fake_platform, "u-9")
    ursula = AdminPage(site.url, "ursula", PASSWORD)
    users = ursula.get("/admin/users").text
    assert re.search(rf'<option value="{boss}" disabled>boss</option>', users)      # greyed in the form
    assert re.search(rf'<option value="{peer}" >peer</option>', users)
    refused = ursula.post("/admin/identities", {"channel": "generic", "platform_user_id": "u-9",
                                                "user_id": str(boss)}).text
    assert "you may not bind the identity generic:u-9 to the user &#39;boss&#39;" in refused
    assert bound_to(db, "generic", "u-9") is None
    denied = audit_rows(db, "delegation.denied")[-1]
    assert denied.actor == "admin:ursula" and denied.target == "generic:u-9"
    assert "is now bound to peer" in ursula.post("/admin/identities", {
        "channel": "generic", "platform_user_id": "u-9", "user_id": str(peer)}).text


@pytest.mark.parametrize("user_id", ["abc", "-1", "99999999999999999999999", "1e3", "0", "nan"])
def test_a_bind_form_with_a_made_up_user_is_refused_with_a_reason(site, fake_platform, user_id):
    seen(site, fake_platform, "u-9")
    page = AdminPage(site.url, "root", PASSWORD)
    resp = page.post("/admin/identities", {"channel": "generic", "platform_user_id": "u-9", "user_id": user_id})
    assert resp.status_code == 200 and 'class="flash error"' in resp.text and "user_id" in resp.text
    assert bound_to(site.runtime.db, "generic", "u-9") is None


def test_a_bind_form_with_an_overlong_identity_is_refused(site):
    page = AdminPage(site.url, "root", PASSWORD)
    resp = page.post("/admin/identities", {"channel": "x" * 41, "platform_user_id": "u", "user_id": ""})
    assert 'class="flash error"' in resp.text and "channel" in resp.text


def _role_section(html: str, name: str) -> str:
    start = html.index(f'id="role-{name}"')
    return html[start:html.index("</section>", start)]


def test_a_wildcard_ticks_what_it_includes_and_says_so(site):
    page = AdminPage(site.url, "root", PASSWORD)
    html = page.get("/admin/roles").text
    operator = _role_section(html, "operator")        # chat, command:*, workflow:*, approval:decide
    implied = re.search(r'<label class="area implied" title="included in command:\*">'
                        r'<input type="checkbox" name="areas" value="command:run:\*" checked disabled>', operator)
    assert implied, operator
    assert "(included in command:*)" in operator and "(included in workflow:*)" in operator
    admin = _role_section(html, "admin")                # *
    assert admin.count("checked disabled") == len(re.findall(r'name="areas"', admin))
    guest = _role_section(html, "guest")
    assert re.search(r'value="chat" checked>', guest) and "included in" not in guest
    zh = page.get("/admin/roles?lang=zh-CN").text
    assert "(已包含在 command:* 中)" in _role_section(zh, "operator")


def test_a_partial_mark_lists_the_permissions_it_stands_for(site):
    page = AdminPage(site.url, "root", PASSWORD)
    html = page.get("/admin/roles").text
    row = html[html.index("<td>command:run:*</td>"):]
    row = row[:row.index("</tr>")]
    covered = "command:run:uptime, command:run:disk, command:run:memory, command:run:load"
    assert f'title="part of it: {covered}">◐<br><small class="covers">uptime, disk, memory, load</small>' in row
    assert 'title="all of it: included in command:*">✔' in row            # operator


def test_saving_a_role_from_its_form_keeps_the_wildcards(site):
    page = AdminPage(site.url, "root", PASSWORD)
    # What the browser sends for operator: disabled boxes are not sent; the wide patterns are in `extra`.
    page.post("/admin/roles/operator", {"description": "ops", "areas": ["chat", "approval:decide"],
                                        "extra": "command:*\nworkflow:*", "chat_scope": ""})
    from smartbot.manage import roles
    operator = next(r for r in roles.list_roles(site.runtime.db) if r["name"] == "operator")
    assert sorted(operator["permissions"]) == ["approval:decide", "chat", "command:*", "workflow:*"]


def test_a_role_templates_description_reads_in_the_pages_language_and_is_kept_as_shipped(site):
    page = AdminPage(site.url, "root", PASSWORD)
    zh = _role_section(page.get("/admin/roles?lang=zh-CN").text, "guest")
    assert 'value="在配额内与模型对话；不能运行命令。"' in zh
    page.post("/admin/roles/guest", {"description": "在配额内与模型对话；不能运行命令。", "areas": ["chat"],
                                     "extra": "", "chat_scope": ""})
    en = _role_section(page.get("/admin/roles?lang=en").text, "guest")
    assert 'value="Chat with the model within quotas; no commands."' in en
