"""What a browser asks for before any page: `/` leads to the web chat, and the icon every page
links is there (no 404 on any page); other unknown paths still answer a JSON 404."""
from __future__ import annotations

import requests


def test_the_root_leads_to_the_web_chat(live_app, make_config):
    app = live_app(make_config())
    resp = app.get("/", allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"] == "/chat"
    assert requests.get(app.url + "/", timeout=10).url == app.url + "/chat"


def test_with_the_web_chat_off_the_root_leads_to_the_admin_page(live_app, make_config):
    app = live_app(make_config(webchat={"enabled": False}))
    resp = app.get("/", allow_redirects=False)
    assert resp.status_code == 302 and resp.headers["Location"] == "/admin/"


def test_the_favicon_is_a_small_svg_image(live_app, make_config):
    app = live_app(make_config())
    resp = app.get("/favicon.ico")
    assert resp.status_code == 200 and resp.headers["Content-Type"].startswith("image/svg+xml")
    assert resp.content.startswith(b"<svg") and len(resp.content) < 2048
    assert "max-age=" in resp.headers.get("Cache-Control", "")


def test_other_unknown_paths_still_answer_a_json_404(live_app, make_config):
    app = live_app(make_config())
    resp = app.get("/no-such-page")
    assert resp.status_code == 404 and resp.headers["Content-Type"].startswith("application/json")
    assert resp.json()["error"]


def test_every_page_links_the_icon(live_app, make_config):
    app = live_app(make_config())
    for path in ("/chat", "/admin/login"):
        assert '<link rel="icon" href="/favicon.ico" type="image/svg+xml">' in app.get(path).text, path
