"""A small company's knowledge base, black-box, under gunicorn: an admin uploads a document (and one
by URL) through the API, a customer asks on the generic channel, the model's request carries the
right chunk as a numbered source and the reply names the source (linked when it has a URL); an
unrelated question gets "I don't know, shall I get a person?" without a model call, in English and
Chinese; a chat route that names no space sends no sources at all. The customer then takes up the
offer (/human), an agent answers through the API and from their own chat, each answer reaching the
customer once, and /release gives the conversation back to the bot."""
from __future__ import annotations

import time

import pytest

from smartbot.storage.db import Database
from tests.support.admin_api import AdminApi
from tests.support.executor import add_role, audit_rows, bind, details
from tests.support.fake_model import FakeModel
from tests.support.knowledge_files import document_server, wait_indexed
from tests.support.waiting import wait_until

RETURNS = "# Returns\n\nUnopened products can be returned within 30 days of delivery for a full refund."
RULES_REREAD = 1.3      # each process checks the rules' version once a second
OPENING = "# 营业时间\n\n我们的上海门店周一至周五上午十点开门，晚上八点关门。"


def _answer(text: str) -> dict:
    return {"body": {"id": "x", "object": "chat.completion", "model": "fake-1",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}}


def _ask(app, fake_platform, event_id: str, text: str) -> str:
    assert app.post_generic({"event_id": event_id, "chat_id": "customer-1", "user_id": "c1", "text": text}).status_code == 200
    fake_platform.wait_for(len(fake_platform.received) + 1, timeout=20)
    replies = fake_platform.replies_to(event_id)
    assert replies, f"no reply to {event_id}"
    return replies[-1]["json"]["text"]


def _to_customer(fake_platform, text: str) -> list[dict]:
    return [r for r in list(fake_platform.received)
            if r["json"]["chat_id"] == "customer-1" and r["json"]["text"] == text]


def _in_agents_chat(fake_platform) -> list[str]:
    return [r["json"]["text"] for r in list(fake_platform.received) if r["json"]["chat_id"] == "agents"]


def _hand_over_to_a_person_and_back(app, db, api: AdminApi, fake_model: FakeModel, fake_platform) -> None:
    """The customer takes up the offer: /human; the agents' chat is told with the last turns, the bot
    stays quiet, an agent answers through the API and with /reply from their own chat (each answer
    reaching the customer once, across the gunicorn workers), then /release gives the chat back."""
    add_role(db, "agent", ["chat", "handoff:answer"])
    bind(db, "anna", "anna", ["agent"])
    assert "asked a person" in _ask(app, fake_platform, "h1", "/human")
    assert wait_until(lambda: _in_agents_chat(fake_platform), 15)
    notice = _in_agents_chat(fake_platform)[0]
    assert notice.startswith("[handoff #1]") and "> What is the capital of Australia?" in notice, notice
    calls = fake_model.calls()
    assert app.post_generic({"event_id": "h2", "chat_id": "customer-1", "user_id": "c1",
                             "text": "hello? anyone there?"}).status_code == 200
    assert wait_until(lambda: len(_in_agents_chat(fake_platform)) == 2, 15)
    assert fake_platform.replies_to("h2") == [] and fake_model.calls() == calls       # the bot stays quiet

    key = {"Idempotency-Key": "journey-reply-1"}
    answer = {"text": "Anna here: it is Canberra."}
    assert api.post("/handoffs/1/reply", answer, headers=key).json() == {"status": "sent"}
    assert api.post("/handoffs/1/reply", answer, headers=key).json() == {"status": "duplicate"}
    agent = {"event_id": "a1", "chat_id": "agents", "user_id": "anna", "text": "/reply 1 Anything else?"}
    assert app.post_generic(agent).status_code == 200
    assert app.post_generic(agent).status_code == 200                  # the platform delivers it twice
    assert wait_until(lambda: _to_customer(fake_platform, "Anything else?"), 15)
    assert wait_until(lambda: _to_customer(fake_platform, "Anna here: it is Canberra."), 15)
    assert "Sent to the customer" in fake_platform.replies_to("a1")[0]["json"]["text"]
    assert app.post_generic({"event_id": "a2", "chat_id": "agents", "user_id": "anna",
                             "text": "/release 1"}).status_code == 200
    assert wait_until(lambda: _to_customer(fake_platform, "You are talking to the bot again. Thank you for your "
                                                          "patience."), 15)
    time.sleep(1.0)                                   # a second delivery would show by now
    assert len(_to_customer(fake_platform, "Anna here: it is Canberra.")) == 1
    assert len(_to_customer(fake_platform, "Anything else?")) == 1
    assert [details(r)["via"] for r in audit_rows(db, "handoff.replied")] == ["api", "chat"]
    assert audit_rows(db, "handoff.released")[0].actor == "generic:anna"
    assert api.get("/handoffs").json()["items"][0]["status"] == "released"

    fake_model.script(_answer("Sealed products go back within 30 days [1]."))
    reply = _ask(app, fake_platform, "h3", "Can I return a product I ordered?")      # the bot answers again
    assert reply.rstrip().endswith("[1] Return policy") and fake_model.calls() == calls + 1


def _system(request: dict) -> str:
    return next(m["content"] for m in request["json"]["messages"] if m["role"] == "system")


@pytest.mark.slow
def test_upload_ask_answer_with_sources_and_say_when_not_known(gunicorn_app, make_config, fake_model: FakeModel,
                                                              fake_platform):
    pages = document_server()
    app = gunicorn_app(make_config(model=fake_model, knowledge={"fetch_allow": [f"127.0.0.1:{pages.port}"]},
                                   handoff={"notify": ["generic:agents"]}))
    db = Database(app.config["database_url"])
    try:
        api = AdminApi(app, db=db)
        assert api.post("/knowledge/spaces", {"name": "faq"}).status_code == 201
        upload = api.call("POST", "/knowledge/spaces/faq/documents", files={"file": ("returns.md", RETURNS.encode())},
                          data={"title": "Return policy"})
        assert upload.status_code == 202, upload.text
        assert api.post("/knowledge/spaces/faq/documents", {"title": "营业时间", "text": OPENING}).status_code == 202
        assert api.post("/knowledge/spaces/faq/documents", {"title": "Parking", "url": f"{pages.url}/faq.html"}
                        ).status_code == 202
        for title in ("Return policy", "营业时间", "Parking"):
            assert wait_indexed(api, "faq", title, timeout=30)["status"] == "ready"
        chat_rule = next(r for r in api.get("/rules").json()["rules"] if r["name"] == "chat")

        # A plain chat route: no sources, no knowledge in the prompt.
        assert "echo: can I return opened tea?" in _ask(app, fake_platform, "e0", "can I return opened tea?")
        assert "[1]" not in _system(fake_model.requests[-1])

        assert api.patch(f"/rules/{chat_rule['id']}", {"params": {"knowledge": ["faq"]}}).status_code == 200
        time.sleep(RULES_REREAD)
        fake_model.script(_answer("Sealed products go back within 30 days [1]."))
        reply = _ask(app, fake_platform, "e1", "Can I return a product I ordered?")
        system = _system(fake_model.requests[-1])
        assert "[1] Return policy\n" in system and "within 30 days of delivery" in system, (reply, api.get("/rules").json())
        assert "Parking" not in system and "营业时间" not in system
        assert reply.startswith("Sealed products go back within 30 days [1].")
        assert reply.rstrip().endswith("[1] Return policy")

        fake_model.script(_answer("You can park in the yard for two hours [1]."))
        reply = _ask(app, fake_platform, "e2", "Where can customers park?")
        assert f"[1] [Parking]({pages.url}/faq.html)" in reply

        reply = _ask(app, fake_platform, "e3", "你们几点开门？")
        assert "十点开门" in _system(fake_model.requests[-1]) and reply.rstrip().endswith("[1] 营业时间")

        calls = fake_model.calls()
        unknown = _ask(app, fake_platform, "e4", "What is the capital of Australia?")
        assert "I don't know" in unknown and "/human" in unknown
        assert fake_model.calls() == calls, "an unanswerable question must not reach the model"
        assert len(audit_rows(db, "knowledge.unanswered")) == 1
        _hand_over_to_a_person_and_back(app, db, api, fake_model, fake_platform)
    finally:
        pages.stop()
        db.dispose()


def test_chinese_customers_are_told_in_chinese(gunicorn_app, make_config, fake_model: FakeModel, fake_platform):
    app = gunicorn_app(make_config(model=fake_model, default_locale="zh-CN"), workers=1)
    db = Database(app.config["database_url"])
    try:
        api = AdminApi(app, db=db)
        assert api.post("/knowledge/spaces", {"name": "faq"}).status_code == 201
        assert api.post("/knowledge/spaces/faq/documents", {"title": "营业时间", "text": OPENING}).status_code == 202
        wait_indexed(api, "faq", "营业时间", timeout=30)
        chat_rule = next(r for r in api.get("/rules").json()["rules"] if r["name"] == "chat")
        assert api.patch(f"/rules/{chat_rule['id']}", {"params": {"knowledge": ["faq"]}}).status_code == 200
        time.sleep(RULES_REREAD)
        unknown = _ask(app, fake_platform, "z1", "明天北京会下雨吗？")
        assert "不知道" in unknown and "/human" in unknown and fake_model.calls() == 0
    finally:
        db.dispose()
