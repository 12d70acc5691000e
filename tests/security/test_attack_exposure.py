"""Attacks on what the app exposes to anyone who can reach it: the headers every answer carries
(a page framed by another site, a script injected inline, a response sniffed as HTML), cookies sent
over plain HTTP behind a TLS proxy, and /metrics and /readyz read by outsiders (channel and provider
names, probe errors, queue depths).

Outsiders are simulated the way nginx reports them: the app trusts one proxy
(`[security] trusted_proxies = 1`) and the request carries `X-Forwarded-For: 203.0.113.7`.
"""
from __future__ import annotations

import json
import re

import pytest
import requests
import sqlalchemy as sa
from prometheus_client.parser import text_string_to_metric_families

from tests.security.conftest import PASSWORD

OUTSIDER = {"X-Forwarded-For": "203.0.113.7"}
OVER_HTTPS = {"X-Forwarded-Proto": "https"}
TOKEN_VARIABLE = "PROM_SCRAPE_TOKEN"
TOKEN = "scrape-token-5b1e0c7d9a2f4e6b8c3d"
TRUSTING_NGINX = {"security": {"trusted_proxies": 1}}
WITH_TOKEN = {"ops": {"metrics_token_env": TOKEN_VARIABLE}, "env": {TOKEN_VARIABLE: TOKEN}}


def set_cookies(resp: requests.Response) -> dict[str, tuple[str, set[str]]]:
    """Every cookie the response sets: name -> (value, its attribute names in lower case)."""
    found = {}
    for raw in resp.raw.headers.getlist("Set-Cookie"):
        name, _, rest = raw.partition("=")
        value, *attrs = rest.split(";")
        found[name.strip()] = (value, {a.strip().split("=", 1)[0].lower() for a in attrs if a.strip()})
    return found


def form_login(url: str, headers: dict[str, str]) -> tuple[requests.Response, requests.Response]:
    """The admin page's login as a browser does it (cookie by hand: requests keeps a Secure
    cookie from being sent back over http). Returns the form page and the login's answer."""
    form = requests.get(url + "/admin/login", headers=headers, timeout=10)
    assert form.status_code == 200, form.text
    csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
    session = set_cookies(form)["session"][0]
    done = requests.post(url + "/admin/login", data={"csrf": csrf, "name": "root", "password": PASSWORD, "next": ""},
                         headers={**headers, "Cookie": f"session={session}"}, allow_redirects=False, timeout=15)
    assert done.status_code == 302, done.text
    return form, done


def every_cookie(url: str, headers: dict[str, str]) -> dict[str, set[str]]:
    """The cookies of an admin login by form, the web chat and the language switch, with their attributes."""
    form, done = form_login(url, headers)
    chat = requests.get(url + "/chat", headers=headers, timeout=10)
    lang = requests.get(url + "/admin/login?lang=zh-CN", headers=headers, timeout=10)
    cookies = {}
    for where, resp in (("form", form), ("login", done), ("chat", chat), ("lang", lang)):
        for name, (_, attrs) in set_cookies(resp).items():
            cookies[f"{where}:{name}"] = attrs
    assert {"form:session", "login:access_token_cookie", "login:csrf_access_token", "chat:smartbot_chat",
            "lang:smartbot_lang"} <= set(cookies), cookies
    return cookies


# -- headers ------------------------------------------------------------------------------------

def test_every_answer_forbids_framing_sniffing_inline_scripts_and_leaking_the_referrer(target):
    app = target()
    answers = {path: requests.get(app.url + path, headers={"Accept": "text/html"}, timeout=10)
               for path in ("/", "/admin/", "/admin/login", "/chat", "/api/v1/auth/me", "/api/v1/openapi.json",
                            "/healthz", "/readyz")}
    answers["webhook"] = app.app.post_generic({"event_id": "h1"}, secret="wrong-secret-0123456789")
    assert answers["/api/v1/auth/me"].status_code == 401 and answers["/api/v1/openapi.json"].status_code == 200
    for path, resp in answers.items():
        assert resp.headers.get("X-Frame-Options") == "DENY", path
        assert resp.headers.get("X-Content-Type-Options") == "nosniff", path
        assert resp.headers.get("Referrer-Policy") in ("same-origin", "no-referrer"), path
        csp = {d.split()[0]: d.split()[1:] for d in resp.headers.get("Content-Security-Policy", "").split(";")
               if d.strip()}
        assert csp.get("default-src") == ["'self'"], (path, csp)
        assert csp.get("frame-ancestors") == ["'none'"] and csp.get("object-src") == ["'none'"], path
        assert csp.get("base-uri") == ["'none'"] and csp.get("form-action") == ["'self'"], path
        for directive in ("script-src", "style-src"):
            assert "'unsafe-inline'" not in csp.get(directive, []) and "*" not in csp.get(directive, []), path


def test_inline_scripts_and_styles_run_only_with_the_pages_own_nonce(target):
    app = target()
    for path in ("/admin/login", "/chat"):
        first, second = (requests.get(app.url + path, timeout=10) for _ in range(2))
        nonces = []
        for resp in (first, second):
            csp = resp.headers["Content-Security-Policy"]
            assert "unsafe-inline" not in csp and "unsafe-eval" not in csp, path
            found = re.search(r"script-src 'self' 'nonce-([A-Za-z0-9+/_=-]{16,})'", csp)
            tags = re.findall(r"<(script|style)\b([^>]*)>", resp.text)
            assert tags, path
            assert not re.search(r"\son[a-z]+\s*=", resp.text, re.I), f"an inline event handler on {path}"
            if found is None:
                # A page with no inline code of its own (the chat page: scripts and styles from files)
                # gets no nonce at all; data in a JSON script element is never run.
                assert all(kind == "script" and ("src=" in attrs or 'type="application/json"' in attrs)
                           for kind, attrs in tags), (path, tags)
                continue
            nonce = found.group(1)
            assert f"style-src 'self' 'nonce-{nonce}'" in csp
            assert all(f'nonce="{nonce}"' in attrs for _, attrs in tags), (path, tags)
            nonces.append(nonce)
        assert len(set(nonces)) == len(nonces), "the nonce must be new for every page"
    assert "nonce-" in requests.get(app.url + "/admin/login", timeout=10).headers["Content-Security-Policy"]


# -- cookies ------------------------------------------------------------------------------------

def test_cookies_are_secure_when_the_trusted_proxy_says_https(target):
    app = target(**TRUSTING_NGINX)
    app.add_user("root", ["admin"])
    cookies = every_cookie(app.url, OVER_HTTPS)
    assert all("secure" in attrs for attrs in cookies.values()), cookies
    assert all("httponly" in attrs for name, attrs in cookies.items() if not name.endswith("csrf_access_token"))


def test_a_forged_proto_header_without_a_trusted_proxy_is_ignored(target):
    app = target()                                          # no proxy trusted: X-Forwarded-Proto is the client's word
    app.add_user("root", ["admin"])
    cookies = every_cookie(app.url, OVER_HTTPS)
    assert not any("secure" in attrs for attrs in cookies.values()), cookies


def test_plain_http_behind_the_proxy_keeps_cookies_usable(target):
    app = target(**TRUSTING_NGINX)
    app.add_user("root", ["admin"])
    cookies = every_cookie(app.url, {"X-Forwarded-Proto": "http"})
    assert not any("secure" in attrs for attrs in cookies.values()), cookies
    with requests.Session() as browser:                     # local http use keeps working
        form = browser.get(app.url + "/admin/login", timeout=10)
        csrf = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)
        browser.post(app.url + "/admin/login", data={"csrf": csrf, "name": "root", "password": PASSWORD}, timeout=15)
        assert "Recent activity" in browser.get(app.url + "/admin/", timeout=10).text


def test_secure_cookies_setting_marks_every_cookie_secure_even_over_plain_http(target):
    app = target(security={"secure_cookies": True})
    app.add_user("root", ["admin"])
    cookies = every_cookie(app.url, {})
    assert all("secure" in attrs for attrs in cookies.values()), cookies


# -- /metrics -----------------------------------------------------------------------------------

def test_metrics_are_refused_to_an_outsider_and_the_refusal_is_audited_once(target):
    # one worker: without [cache] url each process counts its own refusals
    app = target(workers=1, **TRUSTING_NGINX, audit={"refusal_audit_interval": 60.0})
    before = app.last_seq()
    answers = [requests.get(app.url + "/metrics", headers=OUTSIDER, timeout=10) for _ in range(5)]
    for resp in answers:
        assert resp.status_code == 403
        assert "not allowed" in resp.json()["error"] and "metrics_allow" in resp.json()["error"]
        assert "smartbot_" not in resp.text
    rows = app.audit("metrics.refused", since_seq=before)
    assert len(rows) == 1, rows                             # a flood of refusals is one row per interval
    assert rows[0]["actor"] == "203.0.113.7" and rows[0]["result"] == "refused"
    assert rows[0]["target"] == "/metrics" and rows[0]["details"]["status"] == 403
    local = requests.get(app.url + "/metrics", timeout=10)  # Prometheus on the same host still scrapes
    assert local.status_code == 200 and "smartbot_http_requests_total" in local.text


def test_metrics_need_the_right_token_from_elsewhere(target):
    app = target(**TRUSTING_NGINX, **WITH_TOKEN)
    before = app.last_seq()
    right = requests.get(app.url + "/metrics", headers={**OUTSIDER, "Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert right.status_code == 200
    assert "smartbot_http_requests" in {f.name for f in text_string_to_metric_families(right.text)}
    wrong = requests.get(app.url + "/metrics", headers={**OUTSIDER, "Authorization": f"Bearer {TOKEN[:-1]}x"},
                         timeout=10)
    assert wrong.status_code == 401 and "token" in wrong.json()["error"]
    assert wrong.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert "smartbot_" not in wrong.text
    rows = app.audit("metrics.refused", since_seq=before)
    assert [(r["actor"], r["details"]["status"]) for r in rows] == [("203.0.113.7", 401)]
    assert TOKEN not in json.dumps(app.audit(since_seq=before)) and TOKEN[:-1] not in app.app.log()


def test_a_forged_forwarded_for_does_not_make_an_outsider_local(target):
    app = target(**TRUSTING_NGINX)
    # nginx appends the address it saw: the client's own X-Forwarded-For entries come first
    forged = requests.get(app.url + "/metrics", headers={"X-Forwarded-For": "127.0.0.1, 203.0.113.7"}, timeout=10)
    assert forged.status_code == 403


def test_metrics_token_must_be_long_enough_to_start(tmp_path):
    from smartbot.settings.loading import load
    from smartbot.errors import ConfigError

    env = {"SMARTBOT_SECRET_KEY": "k" * 40, TOKEN_VARIABLE: "short"}
    with pytest.raises(ConfigError) as refused:
        load({"database_url": f"sqlite:///{tmp_path}/x.db", "ops": {"metrics_token_env": TOKEN_VARIABLE}}, env)
    assert "ops.metrics_token" in str(refused.value)
    with pytest.raises(ConfigError) as refused:
        load({"database_url": f"sqlite:///{tmp_path}/x.db", "ops": {"metrics_allow": ["10.0.0.0/33"]}}, env)
    assert "ops.metrics_allow[0]" in str(refused.value)


# -- /readyz and /healthz -----------------------------------------------------------------------

def test_readyz_tells_an_outsider_only_ready_or_not(target):
    app = target(**TRUSTING_NGINX, **WITH_TOKEN)
    outside = requests.get(app.url + "/readyz", headers=OUTSIDER, timeout=10)
    assert outside.status_code == 200 and outside.json() == {"status": "ready"}
    for leak in ("generic", "webchat", "main", "inbox", "outbox", "revision", "checks"):
        assert leak not in outside.text, leak
    wrong = requests.get(app.url + "/readyz", headers={**OUTSIDER, "Authorization": "Bearer guessed-token-123456"},
                         timeout=10)
    assert wrong.status_code == 200 and wrong.json() == {"status": "ready"}
    with_token = requests.get(app.url + "/readyz", headers={**OUTSIDER, "Authorization": f"Bearer {TOKEN}"},
                              timeout=10).json()
    assert with_token["checks"]["database"]["ok"] and "generic" in with_token["checks"]["channels"]
    local = requests.get(app.url + "/readyz", timeout=10).json()
    assert "inbox" in local["checks"]["queue"]


def test_readyz_details_for_an_admin_token_with_admin_metrics_only(target):
    app = target(**TRUSTING_NGINX)
    app.add_user("watcher", [], permissions=["admin:login", "admin:metrics"])
    app.add_user("clerk", [], permissions=["admin:login"])
    for name, detailed in (("watcher", True), ("clerk", False)):
        token = app.login(name).tokens["access_token"]
        body = requests.get(app.url + "/readyz", headers={**OUTSIDER, "Authorization": f"Bearer {token}"},
                            timeout=10).json()
        assert ("checks" in body) is detailed, (name, body)


def test_readyz_ignores_a_dead_model_and_hides_from_an_outsider_why_it_is_not_ready(target):
    dead = {"name": "deadhost", "kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "m"}
    app = target(**TRUSTING_NGINX, providers=[dead])
    outside = requests.get(app.url + "/readyz", headers=OUTSIDER, timeout=10)
    assert outside.status_code == 200 and outside.json() == {"status": "ready"}
    local = requests.get(app.url + "/readyz", timeout=10).json()
    assert "models" not in local["checks"] and "cannot connect" not in json.dumps(local)
    with app.db.write() as conn:        # a schema this code does not know: the node cannot serve
        conn.execute(sa.text("UPDATE alembic_version SET version_num = 'elsewhere-0999'"))
    outside = requests.get(app.url + "/readyz", headers=OUTSIDER, timeout=10)
    assert outside.status_code == 503 and outside.json() == {"status": "not ready"}
    assert "elsewhere" not in outside.text and "deadhost" not in outside.text
    local = requests.get(app.url + "/readyz", timeout=10)
    assert local.status_code == 503 and local.json()["checks"]["database"]["revision"] == "elsewhere-0999"


def test_healthz_is_the_same_for_everyone(target):
    app = target(**TRUSTING_NGINX)
    for headers in (OUTSIDER, {}):
        resp = requests.get(app.url + "/healthz", headers=headers, timeout=10)
        assert resp.status_code == 200 and resp.json() == {"status": "ok"}
