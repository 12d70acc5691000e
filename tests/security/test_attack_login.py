"""Attacks on the login (API and admin page): telling which names exist from the time a login
takes, and locking the real admin out by failing logins under their name.

Two addresses are simulated with X-Forwarded-For and `[security] trusted_proxies = 1` (the app
then takes the client's address from the header, as behind nginx)."""
from __future__ import annotations

import re
import statistics
import time

import pytest
import requests
import sqlalchemy as sa

from tests.security.conftest import PASSWORD

ATTACKER, ADMIN = "203.0.113.9", "198.51.100.7"


def _login(target, name: str, password: str, address: str) -> requests.Response:
    return requests.post(target.url + "/api/v1/auth/login", json={"name": name, "password": password},
                         headers={"X-Forwarded-For": address}, timeout=30)


def _page_login(target, name: str, password: str, address: str) -> requests.Response:
    s = requests.Session()
    s.headers["X-Forwarded-For"] = address
    page = s.get(target.url + "/admin/login", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    return s.post(target.url + "/admin/login", data={"csrf": csrf, "name": name, "password": password},
                  allow_redirects=False, timeout=30)


@pytest.fixture
def behind_proxy(target):
    app = target(security={"trusted_proxies": 1})
    app.add_user("root", ["admin"])
    return app


def _median_login_seconds(target, name: str, rounds: int, first_address: int) -> float:
    times = []
    for i in range(rounds):
        started = time.perf_counter()
        resp = _login(target, name, "wrong password 1234", f"10.9.{first_address}.{i + 1}")
        times.append(time.perf_counter() - started)
        assert resp.status_code == 401 and resp.json()["error"] == "wrong name or password"
    return statistics.median(times)


def test_login_time_does_not_tell_which_names_exist(behind_proxy):
    app = behind_proxy
    app.add_user("chatonly", ["user"], password=None)          # a platform user with no password
    disabled = app.add_user("disabled", ["admin"])
    with app.db.write() as conn:
        conn.execute(sa.text("UPDATE users SET is_active = :f WHERE id = :id"), {"f": False, "id": disabled})
    _median_login_seconds(app, "root", 2, 0)                    # warm both workers up
    _median_login_seconds(app, "nobody-here", 2, 1)
    known = _median_login_seconds(app, "root", 5, 2)
    for i, name in enumerate(["nobody-here", "chatonly", "disabled"]):
        other = _median_login_seconds(app, name, 5, 3 + i)
        # Today an unknown name answers in ~3% of a known name's time; with the dummy hash both
        # cost one password hash.
        assert other >= 0.4 * known, (name, other, known)


def test_an_attackers_failures_do_not_lock_the_admin_out_from_another_address(behind_proxy):
    app = behind_proxy
    since = app.last_seq()
    for _ in range(4):
        bad = _login(app, "root", "guess guess guess", ATTACKER)
        assert bad.status_code == 401 and bad.json()["error"] == "wrong name or password"
    fifth = _login(app, "root", "guess guess guess", ATTACKER)  # the failure that locks says how long
    assert fifth.status_code == 429 and fifth.json()["error"].startswith("wrong name or password; too many")
    assert int(fifth.headers["Retry-After"]) == fifth.json()["retry_after"] == 30
    for password in ("guess guess guess", PASSWORD):           # the right password is not even checked
        refused = _login(app, "root", password, ATTACKER)
        assert refused.status_code == 429, refused.text
        assert "too many failed attempts" in refused.json()["error"]
        assert 0 < int(refused.headers["Retry-After"]) <= 900
    admin = _login(app, "root", PASSWORD, ADMIN)
    assert admin.status_code == 200 and admin.json()["access_token"]
    rows = app.audit("admin.login", since_seq=since)
    assert [(r["target"], r["result"]) for r in rows] == \
        [(f"addr:{ATTACKER}", "refused")] * 7 + [(f"addr:{ADMIN}", "ok")]
    assert all("too many failed attempts" in r["details"]["reason"] for r in rows[4:7])


def test_the_lock_on_an_address_grows_with_each_further_failure(behind_proxy):
    app = behind_proxy
    for _ in range(4):
        assert _login(app, "root", "guess guess guess", ATTACKER).status_code == 401
    first = _login(app, "root", "guess guess guess", ATTACKER)
    assert first.status_code == 429
    with app.db.write() as conn:                                 # the lock runs out (time passes)
        conn.execute(sa.text("UPDATE login_failures SET locked_until = 0"))
    second = _login(app, "root", "guess guess guess", ATTACKER)  # one more failure locks again, longer
    assert second.status_code == 429
    assert int(second.headers["Retry-After"]) > int(first.headers["Retry-After"])
    assert _login(app, "root", PASSWORD, ATTACKER).status_code == 429


def test_an_address_trying_many_names_is_refused_for_every_name(behind_proxy):
    app = behind_proxy
    for i in range(9):
        bad = _login(app, f"user{i}", "guess guess guess", ATTACKER)
        assert bad.status_code == 401, (i, bad.text)
    assert _login(app, "user9", "guess guess guess", ATTACKER).status_code == 429
    refused = _login(app, "root", PASSWORD, ATTACKER)
    assert refused.status_code == 429 and "too many failed attempts" in refused.json()["error"]
    assert _login(app, "root", PASSWORD, ADMIN).status_code == 200


def test_the_admin_page_shares_the_count_and_answers_429(behind_proxy):
    app = behind_proxy
    for _ in range(3):
        assert _login(app, "root", "guess guess guess", ATTACKER).status_code == 401
    assert _page_login(app, "root", "guess guess guess", ATTACKER).status_code == 401
    assert _page_login(app, "root", "guess guess guess", ATTACKER).status_code == 429
    locked = _page_login(app, "root", PASSWORD, ATTACKER)
    assert locked.status_code == 429 and "Too many attempts. Try again in" in locked.text
    assert int(locked.headers["Retry-After"]) > 0
    assert _page_login(app, "root", PASSWORD, ADMIN).status_code == 302


def test_a_successful_login_clears_the_count_for_that_name_and_address(behind_proxy):
    app = behind_proxy
    for _ in range(4):
        assert _login(app, "root", "typo typo typo", ADMIN).status_code == 401
    assert _login(app, "root", PASSWORD, ADMIN).status_code == 200
    for _ in range(4):
        assert _login(app, "root", "typo typo typo", ADMIN).status_code == 401
    assert _login(app, "root", PASSWORD, ADMIN).status_code == 200


def test_without_a_trusted_proxy_the_forwarded_address_is_ignored(target):
    app = target()
    app.add_user("root", ["admin"])
    for i in range(4):                    # an attacker rotating X-Forwarded-For is still one address
        assert _login(app, "root", "guess guess guess", f"192.0.2.{i}").status_code == 401
    assert _login(app, "root", "guess guess guess", "192.0.2.4").status_code == 429
    assert _login(app, "root", PASSWORD, "192.0.2.200").status_code == 429
