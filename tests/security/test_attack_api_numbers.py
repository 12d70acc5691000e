"""Attack: numbers Python parses but nothing downstream can hold, sent to the admin API. `NaN` and
`Infinity` are not JSON, yet Python's parser took them (and NaN passes every range check: a
provider's temperature became NaN); `nan` in a query string failed `int()` with a 500; an integer
past the database's range failed in the database with a 500. Each is a 400 or 422 naming the field.
"""
from __future__ import annotations

import pytest


@pytest.fixture
def admin(target):
    app = target()
    app.add_user("ops-admin", ["admin"])
    return app, app.login("ops-admin")


@pytest.mark.parametrize("query", ["limit=nan", "limit=inf", "before_seq=-inf", "since=nan", "until=1e999"])
def test_query_numbers_that_are_not_finite_are_refused(admin, query):
    app, api = admin
    resp = api.get(f"/audit?{query}")
    assert resp.status_code == 400, resp.text
    assert query.split("=")[0] in resp.json()["error"] and "finite" in resp.json()["error"]
    assert "Traceback" not in app.app.log()


@pytest.mark.parametrize("literal", ["NaN", "Infinity", "-Infinity", "1e400"])
def test_json_numbers_that_are_not_finite_never_reach_a_setting(admin, literal):
    app, api = admin
    body = ('{"name": "odd", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m", '
            f'"temperature": {literal}}}')
    resp = api.call("POST", "/providers", data=body, headers={"Content-Type": "application/json"})
    assert resp.status_code == 400, resp.text
    assert "malformed JSON" in resp.json()["error"]
    assert "odd" not in [p["name"] for p in api.get("/providers").json()["items"]]


def test_an_integer_past_the_databases_range_is_refused_by_name(admin):
    app, api = admin
    resp = api.post("/identities", {"channel": "generic", "platform_user_id": "u-1", "user_id": 10**30})
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == "user_id" and "at most 2147483647" in resp.json()["error"]
    assert "Traceback" not in app.app.log()
