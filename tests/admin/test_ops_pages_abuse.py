"""What the operations pages refuse, over HTTP against the app under gunicorn: an admin of another
area (403, audited), a form without its CSRF token (400, nothing changed), ids and queue names that
name nothing (404 or a message, never a 500), and periods that are not one of the choices offered
(NaN, 10^23, negative: 400 with the reason)."""
from __future__ import annotations

import pytest

from tests.support.admin_page import AdminPage
from tests.support.api_client import ADMIN_PASSWORD, login
from tests.support.ops_site import Site, start_site

PAGES = ("/admin/usage", "/admin/model-routes", "/admin/queues", "/admin/metrics")


@pytest.fixture
def ops(gunicorn_app, make_config, database_url, fake_model):
    site = start_site(gunicorn_app, make_config(model=fake_model), database_url)
    yield site
    site.db.dispose()


def _clerk(ops: Site) -> AdminPage:
    """A user who holds the admin area `audit` and nothing else of the admin page."""
    api = login(ops.url, "root")
    assert api.post("/roles", {"name": "auditors", "permissions": ["admin:login", "admin:audit"]}).status_code == 201
    assert api.post("/users", {"name": "clerk", "roles": ["auditors"], "password": ADMIN_PASSWORD}).status_code == 201
    return AdminPage(ops.url, "clerk", ADMIN_PASSWORD)


def test_an_admin_of_another_area_is_refused_every_operations_page_and_action(ops, fake_platform):
    row_id = ops.fail_a_reply(fake_platform, "guarded")
    clerk = _clerk(ops)
    dashboard = clerk.get("/admin/")
    assert dashboard.status_code == 200
    for path in PAGES:
        assert f'href="{path}"' not in dashboard.text, f"the navigation offers {path} to someone who may not open it"
        assert clerk.get(path).status_code == 403, path
    for action in (f"/admin/queues/outbox/{row_id}/retry", f"/admin/queues/outbox/{row_id}/drop",
                   "/admin/model-routes"):
        refused = clerk.post(action, {"name": "x", "provider": "main"})
        assert refused.status_code == 403, action
    assert ops.failed_replies() == [row_id] and ops.audit("queue.retried") == [] and ops.audit("model_route.created") == []
    denied = sorted({a.target for a in ops.audit("api.denied") if a.actor == "admin:clerk"})
    assert denied == ["admin:metrics", "admin:providers", "admin:queues", "admin:usage"]


def test_forms_without_their_csrf_token_change_nothing(ops, fake_platform):
    row_id = ops.fail_a_reply(fake_platform, "forged")
    root = AdminPage(ops.url, "root", ADMIN_PASSWORD)
    for action, data in ((f"/admin/queues/outbox/{row_id}/retry", {}), (f"/admin/queues/outbox/{row_id}/drop", {}),
                         ("/admin/model-routes", {"name": "forged", "provider": "main"})):
        resp = root.s.post(ops.url + action, data=data, timeout=15)
        assert resp.status_code == 400 and "CSRF" in resp.text, action
    assert ops.failed_replies() == [row_id]
    assert ops.audit("queue.retried") == [] and ops.audit("queue.dropped") == [] and ops.audit("model_route.created") == []


def test_ids_and_queues_that_name_nothing_get_a_clear_answer(ops, fake_platform):
    row_id = ops.fail_a_reply(fake_platform, "real")
    root = AdminPage(ops.url, "root", ADMIN_PASSWORD)
    for path in ("/admin/queues/outbox/abc/retry", "/admin/queues/outbox/-3/drop", "/admin/queues/outbox/1.5/retry"):
        assert root.post(path, {}).status_code == 404, path
    for path, reason in ((f"/admin/queues/outbox/{10**30}/retry", "has no entry"),
                         ("/admin/queues/outbox/987654/drop", "has no failed entry 987654"),
                         (f"/admin/queues/trash/{row_id}/drop", "no queue named"),
                         (f"/admin/queues/inbox/{row_id}/retry", "only failed replies")):
        page = root.post(path, {})
        assert page.status_code == 200 and reason in page.text, (path, page.status_code)
    assert ops.failed_replies() == [row_id]
    assert root.post("/admin/model-routes/nope/delete", {}).status_code == 200
    assert "no model route named" in root.post("/admin/model-routes/nope/delete", {}).text


def test_a_usage_period_that_is_not_offered_is_refused_with_the_choices(ops):
    root = AdminPage(ops.url, "root", ADMIN_PASSWORD)
    for period in ("NaN", "nan", "inf", "1e23", str(10**23), "-7", "8", "7.0", "", "30; DROP"):
        resp = root.get("/admin/usage", params={"period": period})
        assert resp.status_code == 400 and "7, 30, 90" in resp.text, period
    assert "时间范围只能是" in root.get("/admin/usage", params={"period": "NaN", "lang": "zh-CN"}).text
    assert root.get("/admin/usage", params={"period": "90"}).status_code == 200
