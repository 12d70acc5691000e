"""Hand-off to a person, end to end on the generic channel with a fake model that records its
calls: the customer asks (/human, or a rule), the agents' chat is told with the last turns, the bot
stays quiet (no model call), an agent answers through the API and from their own chat (each
answer reaching the customer exactly once), gives the conversation back, and the bot answers
again. Strangers, unknown and closed hand-offs are refused and audited; a quiet one times out."""
from __future__ import annotations

import time

import pytest
import sqlalchemy as sa

from smartbot.storage.tables import Handoff, Rule
from smartbot.router.store import RULES_VERSION
from smartbot.storage.runtime_settings import bump
from tests.support.admin_api import AdminApi
from tests.support.api_client import ADMIN_PASSWORD, login
from tests.support.executor import Chat, add_role, audit_rows, bind, details
from tests.support.waiting import queues_settled, wait_until

AGENTS = "agents-room"


@pytest.fixture
def desk(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, handoff={"notify": [f"generic:{AGENTS}"], "last_turns": 4}))
    add_role(app.runtime.db, "agent", ["chat", "handoff:answer"])
    bind(app.runtime.db, "anna", "anna", ["agent"])
    return app, Chat(app, fake_platform), AdminApi(app)


def to_customer(platform, text: str, chat: str = "shop") -> list[str]:
    return [r["json"]["text"] for r in list(platform.received)
            if r["json"] and r["json"]["chat_id"] == chat and r["json"]["text"] == text]


def delivered(app, platform, text: str) -> bool:
    """The text reached the customer's chat; when not, the outbox is shown to say why."""
    if wait_until(lambda: to_customer(platform, text), 10):
        return True
    with app.runtime.db.read() as conn:
        print(conn.execute(sa.text("SELECT id, order_key, status, owner, attempts, payload FROM outbox")).all())
    return False


def unanswered(app, chat: Chat, event_id: str) -> bool:
    """Once the app has handled everything it acknowledged and sent every reply: none to `event_id`."""
    assert wait_until(lambda: queues_settled(app.runtime.db), 10)
    return chat.platform.replies_to(event_id) == []


def test_customer_gets_a_person_and_back(desk, fake_model, fake_platform):
    app, chat, api = desk
    assert chat.say("where is my parcel?", user="cus", chat="shop") == "echo: where is my parcel?"
    assert "asked a person" in chat.say("/human", user="cus", chat="shop")
    notice = chat.in_chat(AGENTS)[0]
    assert notice.startswith("[handoff #1]") and "> where is my parcel?" in notice and "/reply 1" in notice
    assert details(audit_rows(app.runtime.db, "handoff.requested")[0])["via"] == "human"
    calls = fake_model.calls()

    event = chat.send("hello? anyone?", user="cus", chat="shop")           # the bot stays quiet
    assert "[handoff #1] cus: hello? anyone?" in chat.in_chat(AGENTS, count=2)
    assert unanswered(app, chat, event) and fake_model.calls() == calls
    listed = api.get("/handoffs").json()["items"]
    assert listed[0]["id"] == 1 and listed[0]["status"] == "waiting" and listed[0]["chat_id"] == "shop"
    assert listed[0]["channel"] == "generic" and listed[0]["turns"][-1] == {"role": "user", "text": "hello? anyone?"}

    first = api.post("/handoffs/1/reply", {"text": "Anna here, checking."}, headers={"Idempotency-Key": "k-1"})
    again = api.post("/handoffs/1/reply", {"text": "Anna here, checking."}, headers={"Idempotency-Key": "k-1"})
    assert first.json() == {"status": "sent"} and again.json() == {"status": "duplicate"}
    assert delivered(app, fake_platform, "Anna here, checking.")
    assert "sent to the customer" in chat.say("/reply 1 It left today.", user="anna", chat=AGENTS).lower()
    assert delivered(app, fake_platform, "It left today.")
    assert wait_until(lambda: queues_settled(app.runtime.db), 10)       # a second copy would be sent by now
    assert len(to_customer(fake_platform, "Anna here, checking.")) == 1
    assert len(to_customer(fake_platform, "It left today.")) == 1
    assert [details(r)["via"] for r in audit_rows(app.runtime.db, "handoff.replied")] == ["api", "chat"]
    assert api.get("/handoffs").json()["items"][0]["status"] == "held"
    assert fake_model.calls() == calls

    assert api.post("/handoffs/1/release").json() == {"status": "released"}
    assert delivered(app, fake_platform, "You are talking to the bot again. Thank you for your patience.")
    assert audit_rows(app.runtime.db, "handoff.released")
    assert chat.say("thanks!", user="cus", chat="shop") == "echo: thanks!"
    history = fake_model.requests[-1]["json"]["messages"]
    assert {"role": "assistant", "content": "It left today."} in history    # the model knows what the person said


def test_release_and_reply_from_the_agents_chat_and_refusals(desk, fake_platform):
    app, chat, api = desk
    chat.say("/human", user="cus", chat="shop")
    assert "not allowed" in chat.say("/reply 1 I am not staff", user="mallory", chat="elsewhere")
    assert "not allowed" in chat.say("/release 1", user="mallory", chat="elsewhere")
    refused = audit_rows(app.runtime.db, "handoff.refused")
    assert len(refused) == 2 and refused[0].actor == "generic:mallory" and refused[0].result == "denied"
    assert to_customer(fake_platform, "I am not staff") == []
    assert "given back" in chat.say("/release 1", user="anna", chat=AGENTS)
    assert "closed already" in chat.say("/reply 1 too late", user="anna", chat=AGENTS)
    assert "no hand-off #99" in chat.say("/reply 99 hello", user="anna", chat=AGENTS)
    assert "Usage" in chat.say("/reply 1", user="anna", chat=AGENTS)
    assert "Usage" in chat.say("/reply one hello", user="anna", chat=AGENTS)
    closed = api.post("/handoffs/1/reply", {"text": "late"})
    assert closed.status_code == 409 and "closed" in closed.json()["error"]
    assert api.post("/handoffs/99/reply", {"text": "x"}).status_code == 404
    assert api.post("/handoffs/99/release").status_code == 404
    assert api.post("/handoffs/1/release").status_code == 409
    assert len(audit_rows(app.runtime.db, "handoff.refused")) == 2 + 2 + 4
    assert to_customer(fake_platform, "late") == [] and to_customer(fake_platform, "too late") == []


def test_api_needs_handoff_answer_and_checks_the_body(desk):
    app, chat, api = desk
    chat.say("/human", user="cus", chat="shop")
    api.post("/roles", {"name": "viewer", "permissions": ["admin:login"]})
    api.post("/roles", {"name": "desk", "permissions": ["admin:login", "handoff:answer"]})
    api.post("/users", {"name": "vic", "roles": ["viewer"], "password": ADMIN_PASSWORD})
    api.post("/users", {"name": "dee", "roles": ["desk"], "password": ADMIN_PASSWORD})
    vic, dee = login(app.url, "vic"), login(app.url, "dee")
    assert vic.get("/handoffs").status_code == 403
    assert vic.post("/handoffs/1/reply", {"text": "hi"}).status_code == 403
    assert vic.post("/handoffs/1/release").status_code == 403
    assert len(audit_rows(app.runtime.db, "api.denied")) == 3
    for body in ({}, {"text": ""}, {"text": 5}, {"text": "x" * 4001}, {"text": "hi", "to": "other-chat"}, []):
        assert dee.post("/handoffs/1/reply", body).status_code == 422, body
    assert dee.get("/handoffs").status_code == 200
    assert dee.post("/handoffs/1/reply", {"text": "Dee here."}).json() == {"status": "sent"}
    assert audit_rows(app.runtime.db, "handoff.replied")[0].actor == "admin:dee"
    assert dee.post("/profiles", {"name": "p"}).status_code == 403        # answering is not administering


def test_a_rule_action_hands_off_and_a_quiet_handoff_times_out(desk, fake_model, fake_platform):
    app, chat, api = desk
    rules = Rule.__table__
    with app.runtime.db.write() as conn:
        conn.execute(sa.insert(rules).values(name="complaints", position=5, enabled=True, match={"keywords": ["refund"]},
                                             action="handoff", params={}, source="db", created_at=time.time(),
                                             updated_at=time.time()))
        bump(conn, app.runtime.db, RULES_VERSION)
    time.sleep(1.1)
    assert "asked a person" in chat.say("I want a refund", user="cus", chat="shop")
    assert details(audit_rows(app.runtime.db, "handoff.requested")[0])["via"] == "rule:complaints"
    with app.runtime.db.write() as conn:    # an hour of quiet
        conn.execute(sa.update(Handoff.__table__).values(updated_at=time.time() - 3601))
    assert wait_until(lambda: audit_rows(app.runtime.db, "handoff.expired"), 10)
    assert wait_until(lambda: any("answers you again" in t for t in chat.in_chat("shop", count=3)), 10)
    calls = fake_model.calls()
    assert chat.say("hello", user="cus", chat="shop") == "echo: hello" and fake_model.calls() == calls + 1


def test_the_customer_is_told_in_their_language_and_the_agents_in_theirs(live_app, make_config, fake_model,
                                                                        fake_platform):
    app = live_app(make_config(model=fake_model, default_locale="zh-CN", handoff={"notify": [f"generic:{AGENTS}"]}))
    chat = Chat(app, fake_platform)
    assert "人工客服" in chat.say("/human", user="cus", chat="shop")
    assert chat.in_chat(AGENTS)[0].startswith("[转人工 #1]")
