"""The built-in web chat: the same path as any platform, read back from the outbox."""
from __future__ import annotations

import requests


def _session(app) -> requests.Session:
    s = requests.Session()
    assert s.get(app.url + "/chat", timeout=5).status_code == 200
    return s


def _post(s: requests.Session, app, text: str, **kw):
    return s.post(app.url + "/chat/api/messages", json={"text": text, **kw},
                  headers={"X-Requested-With": "smartbot"}, timeout=5)


def test_page_is_served_in_the_visitors_language(live_app, make_config):
    app = live_app(make_config())
    assert "Chat with SmartBot" in requests.get(app.url + "/chat", timeout=5).text
    zh = requests.get(app.url + "/chat", headers={"Accept-Language": "zh-CN,zh;q=0.9"}, timeout=5).text
    assert "与 SmartBot 对话" in zh


def test_message_gets_a_reply_through_the_same_router(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    s = _session(app)
    assert _post(s, app, "/whoami", client_id="abcdefgh01").status_code == 202
    assert _post(s, app, "hello web", client_id="abcdefgh02").status_code == 202
    texts, last = [], 0
    for _ in range(20):
        data = s.get(app.url + f"/chat/api/messages?after={last}&wait=5", timeout=10).json()
        texts += [m["text"] for m in data["messages"]]
        last = data["last"]
        if len(texts) >= 2:
            break
    assert texts[0].endswith("(guest)") and texts[1] == "echo: hello web"


def test_each_browser_sees_only_its_own_chat(live_app, make_config):
    app = live_app(make_config())
    alice, bob = _session(app), _session(app)
    _post(alice, app, "/help")
    data = alice.get(app.url + "/chat/api/messages?wait=5", timeout=10).json()
    assert data["messages"]
    assert bob.get(app.url + "/chat/api/messages?wait=0", timeout=10).json()["messages"] == []


def test_resending_the_same_client_id_is_a_duplicate(live_app, make_config):
    app = live_app(make_config())
    s = _session(app)
    assert _post(s, app, "/help", client_id="same-id-123").json()["status"] == "accepted"
    assert _post(s, app, "/help", client_id="same-id-123").json()["status"] == "duplicate"


def test_bad_requests_are_refused(live_app, make_config):
    app = live_app(make_config())
    s = _session(app)
    no_header = s.post(app.url + "/chat/api/messages", json={"text": "hi"}, timeout=5)
    assert no_header.status_code == 403 and "X-Requested-With" in no_header.json()["error"]
    assert _post(s, app, "").status_code == 400
    assert _post(s, app, "x" * 5000).status_code == 400
    assert _post(s, app, "hi", client_id="../../etc").status_code == 400
    assert s.get(app.url + "/chat/api/messages?after=abc", timeout=5).status_code == 400
