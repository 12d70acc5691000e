"""The built-in web chat: the same path as any platform, read back from the outbox."""
from __future__ import annotations

import requests

from tests.webchat.visitors import chat_id_of


def _session(app) -> requests.Session:
    s = requests.Session()
    assert s.get(app.url + "/chat", timeout=5).status_code == 200
    return s


def _replies(s: requests.Session, app, count: int) -> list[str]:
    """The texts of the first `count` replies. A long poll may also end for a reply's growing
    preview (streamed chat), with no finished message yet, so it polls again."""
    texts, last = [], 0
    for _ in range(20):
        data = s.get(app.url + f"/chat/api/messages?after={last}&wait=5", timeout=10).json()
        texts += [m["text"] for m in data["messages"]]
        last = data["last"]
        if len(texts) >= count:
            break
    return texts


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
    texts = _replies(s, app, 2)
    chat_id = chat_id_of(s.cookies.get("smartbot_chat"))
    assert texts[0] == (f"web-{chat_id[:6]} (guest)\nNot bound to a user yet. To bind you, an admin needs this "
                        f"identity: webchat:{chat_id}")
    assert texts[1] == "echo: hello web"


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


def test_a_chat_cookie_is_refused_after_the_idle_time_or_from_the_future():
    from smartbot.webchat.cookie import ChatCookie

    cookies = ChatCookie("k" * 32, idle_seconds=3600)
    value = cookies.issue("chat-id-0001", now=1_000_000)
    assert cookies.read(value, now=1_000_000 + 3599) == "chat-id-0001"
    assert cookies.read(value, now=1_000_000 + 3601) is None             # idle too long: a new chat
    assert cookies.read(value, now=1_000_000 - 3600) is None             # issued "later" than now
    assert ChatCookie("another key 0123456789abcdef", 3600).read(value, now=1_000_000) is None
    assert cookies.read("not-a-cookie", now=1_000_000) is None and cookies.read(None, now=1) is None


def test_guest_limits_count_each_bound_in_turn_and_say_when_to_retry():
    from smartbot.settings.sections import WebchatSettings
    from smartbot.storage.shared_state import LocalStore
    from smartbot.webchat.limits import GuestLimits

    settings = WebchatSettings(messages_per_minute_per_chat=2, messages_per_minute_per_address=4,
                               guest_messages_per_hour=4)
    limits = GuestLimits(LocalStore(), db=None, settings=settings)
    limits._audit_first = lambda *args: None           # audited in tests/security/test_attack_webchat.py
    now = 7200.0 + 50                                  # 10 s before a minute ends, in an hour's first minute
    assert limits.admit("chat-a", "10.0.0.1", now) is None
    assert limits.admit("chat-a", "10.0.0.1", now) is None
    refused = limits.admit("chat-a", "10.0.0.1", now)
    assert refused.limit == "chat" and refused.retry_after == 10
    assert limits.admit("chat-b", "10.0.0.1", now) is None             # the address counts every message
    assert limits.admit("chat-c", "10.0.0.1", now).limit == "address"
    assert limits.admit("chat-d", "10.0.0.2", now) is None             # the fourth guest message this hour
    over = limits.admit("chat-e", "10.0.0.3", now)
    assert over.limit == "guests" and over.retry_after == 3600 - 50
    assert limits.admit("chat-e", "10.0.0.3", now + 3600) is None      # the next hour


def test_a_chat_begun_in_the_old_session_cookie_is_carried_over(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    flask_app = app.app
    old = flask_app.session_interface.get_signing_serializer(flask_app).dumps({"chat_id": "old-chat-0001"})
    s = requests.Session()
    s.cookies.set("session", old)
    assert _post(s, app, "still me?", client_id="abcdefgh09").json()["event_id"].startswith("old-chat-0001:")
    assert s.cookies.get("smartbot_chat")
    assert _replies(s, app, 1) == ["echo: still me?"]
