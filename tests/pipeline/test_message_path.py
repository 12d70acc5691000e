"""One message through the whole path: identity, router, builtins, memory, the model, the outbox."""
from __future__ import annotations

import json
import time

import sqlalchemy as sa

from smartbot.storage.tables import AuditLog


def _msg(event_id: str, text: str, chat: str = "chat-1", user: str = "u-1", **extra):
    return {"event_id": event_id, "chat_id": chat, "user_id": user, "user_name": "Alice", "text": text, **extra}


def _say(app, platform, text: str, event_id: str, timeout: float = 10.0, **extra) -> str:
    before = len(platform.received)
    assert app.post_generic(_msg(event_id, text, **extra)).status_code == 200
    got = platform.wait_for(before + 1, timeout)
    assert len(got) > before, f"no reply to {text!r}"
    return got[before]["json"]["text"]


def _audit(app, action: str) -> list:
    table = AuditLog.__table__
    with app.runtime.db.read() as conn:
        return conn.execute(sa.select(table).where(table.c.action == action).order_by(table.c.seq)).all()


def test_help_and_whoami_need_no_model(live_app, make_config, fake_platform):
    app = live_app(make_config())
    assert "/whoami" in _say(app, fake_platform, "/help", "e1")
    assert _say(app, fake_platform, "/whoami", "e2") == \
        "Alice (guest)\nNot bound to a user yet. To bind you, an admin needs this identity: generic:u-1"


def test_without_a_model_chat_says_so_and_where_to_add_one(live_app, make_config, fake_platform):
    app = live_app(make_config())
    text = _say(app, fake_platform, "hello", "e1")
    assert "No model is configured" in text and "[[providers]]" in text


def test_conversation_memory_and_reset(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    assert _say(app, fake_platform, "my name is Li", "e1") == "echo: my name is Li"
    _say(app, fake_platform, "what is my name?", "e2")
    history = fake_model.requests[-1]["json"]["messages"]
    assert [m["role"] for m in history] == ["system", "user", "assistant", "user"]
    assert history[1]["content"] == "my name is Li"
    assert "forgotten" in _say(app, fake_platform, "/reset", "e3")
    _say(app, fake_platform, "and now?", "e4")
    assert [m["role"] for m in fake_model.requests[-1]["json"]["messages"]] == ["system", "user"]
    assert len(_audit(app, "conversation.reset")) == 1


def test_memory_is_per_user_within_a_chat(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    _say(app, fake_platform, "secret plan", "e1", user="u-1")
    _say(app, fake_platform, "hi", "e2", user="u-2")
    assert "secret plan" not in json.dumps(fake_model.requests[-1]["json"]["messages"])


def test_system_prompt_has_the_bot_name_and_language(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, bot_name="Robo"))
    _say(app, fake_platform, "你好", "e1", locale="zh-CN")
    system = fake_model.requests[-1]["json"]["messages"][0]["content"]
    assert "Robo" in system and "简体中文" in system


def test_model_timeout_gets_a_clear_reply_and_an_audit_entry(live_app, make_config, fake_model, fake_platform):
    config = make_config(model=fake_model)
    config["providers"][0].update(read_timeout=0.3, total_timeout=1.0, max_retries=0)
    app = live_app(config)
    fake_model.delay = 2.0
    text = _say(app, fake_platform, "hello", "e1", timeout=15)
    assert "took too long" in text
    events = _audit(app, "model.error")
    assert len(events) == 1 and json.loads(events[0].details)["kind"] == "timeout"
    assert _audit(app, "message.handled")[-1].result == "error"


def test_model_garbage_gets_a_clear_reply(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_model.script({"body": b"<html>not json</html>"})
    assert "could not read" in _say(app, fake_platform, "hello", "e1")
    fake_model.script({"body": {"choices": []}})
    assert "could not read" in _say(app, fake_platform, "hello", "e2")
    assert fake_model.calls() == 2          # a malformed answer is not retried on the same provider


def test_model_server_error_is_retried(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_model.script({"status": 500, "body": {"error": "boom"}})
    assert _say(app, fake_platform, "hello", "e1") == "echo: hello"
    assert fake_model.calls() == 2


def test_rate_limit_retry_after_is_honoured(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_model.script({"status": 429, "body": {"error": "slow down"}, "headers": {"Retry-After": "1"}})
    started = time.monotonic()
    assert _say(app, fake_platform, "hello", "e1") == "echo: hello"
    assert time.monotonic() - started >= 1.0


def test_client_error_is_not_retried(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_model.script({"status": 400, "body": {"error": {"message": "bad request"}}})
    assert "not available" in _say(app, fake_platform, "hello", "e1")
    assert fake_model.calls() == 1


def test_fallback_provider_answers_when_the_first_is_down(live_app, make_config, fake_model, fake_platform):
    from tests.support.fake_model import FakeModel

    backup = FakeModel().start()
    try:
        config = make_config(model=fake_model)
        config["providers"].append({"name": "backup", "base_url": backup.base_url, "model": "b-1"})
        config["models"] = {"default": "main", "fallback": ["backup"]}
        config["providers"][0]["max_retries"] = 0
        app = live_app(config)
        fake_model.script({"status": 503, "body": {}})
        assert _say(app, fake_platform, "hello", "e1") == "echo: hello"
        assert fake_model.calls() == 1 and backup.calls() == 1
        handled = json.loads(_audit(app, "message.handled")[-1].details)
        assert handled["provider"] == "backup"
    finally:
        backup.stop()


def test_api_key_comes_from_the_named_environment_variable(live_app, make_config, fake_model, fake_platform,
                                                           monkeypatch):
    monkeypatch.setenv("FAKE_MODEL_KEY", "sk-test-123")
    config = make_config(model=fake_model)
    config["providers"][0]["api_key_env"] = "FAKE_MODEL_KEY"
    app = live_app(config)
    _say(app, fake_platform, "hello", "e1")
    assert fake_model.requests[-1]["headers"]["Authorization"] == "Bearer sk-test-123"
    with app.runtime.db.read() as conn:
        stored = json.dumps([list(r) for r in conn.execute(sa.text("SELECT * FROM providers"))])
        audit_text = json.dumps([list(r) for r in conn.execute(sa.text("SELECT details FROM audit_log"))])
    assert "sk-test-123" not in stored and "sk-test-123" not in audit_text


def test_callback_failures_are_retried_from_the_outbox(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_platform.fail_next(2, status=502)
    assert _say(app, fake_platform, "hello", "e1", timeout=15) == "echo: hello"
    assert fake_platform.attempts == 3
    assert len(fake_platform.received) == 1


def test_callback_retry_after_is_honoured(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_platform.fail_next(1, status=429, headers={"Retry-After": "2"})
    started = time.monotonic()
    assert _say(app, fake_platform, "hello", "e1", timeout=15) == "echo: hello"
    assert time.monotonic() - started >= 2.0


def test_refused_reply_is_given_up_audited_and_the_chat_goes_on(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    fake_platform.fail_next(1, status=400)
    assert app.post_generic(_msg("e1", "first")).status_code == 200
    assert _say(app, fake_platform, "second", "e2") == "echo: second"
    failed = _audit(app, "reply.failed")
    assert len(failed) == 1 and "400" in json.loads(failed[0].details)["reason"]
    def statuses():
        with app.runtime.db.read() as conn:
            return conn.execute(sa.text("SELECT status FROM outbox ORDER BY id")).scalars().all()
    deadline = time.monotonic() + 5
    while statuses() != ["failed", "done"] and time.monotonic() < deadline:
        time.sleep(0.05)
    assert statuses() == ["failed", "done"]


def test_group_message_without_mention_is_ignored(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    assert app.post_generic(_msg("g1", "chatter", chat_type="group", mentioned=False)).status_code == 200
    assert _say(app, fake_platform, "@bot hi", "g2", chat_type="group", mentioned=True) == "echo: @bot hi"
    assert fake_model.calls() == 1 and len(fake_platform.received) == 1


def test_allowlist_mode_refuses_strangers_before_any_model_call(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, security={"default_role": ""}))
    assert "registered users" in _say(app, fake_platform, "hello", "e1")
    assert fake_model.calls() == 0
    assert _audit(app, "message.denied")[-1].result == "denied"


def test_every_handled_message_is_audited_without_its_text(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    _say(app, fake_platform, "my card number is 4111", "e1")
    rows = _audit(app, "message.handled")
    assert len(rows) == 1 and rows[0].actor == "generic:u-1"
    assert "4111" not in rows[0].details
    with app.runtime.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM identities WHERE platform_user_id = 'u-1'")).scalar() == 1


def test_a_due_retry_runs_on_its_own_timer(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, jobs={"sweep_seconds": 120.0}))   # the sweeper will not help
    fake_platform.fail_next(1, status=503)
    started = time.monotonic()
    assert _say(app, fake_platform, "hello", "e1", timeout=10) == "echo: hello"
    assert time.monotonic() - started < 5


def test_a_chat_turn_reads_back_neither_its_message_nor_its_reply(live_app, make_config, fake_model, fake_platform):
    """The webhook and storing the outcome hand the rows they leased to the jobs that work them (the
    handoff); the turn's usage is written by the message's own transaction, not one of its own."""
    from sqlalchemy import event

    app = live_app(make_config(model=fake_model))
    _say(app, fake_platform, "warm up", "e0")
    seen: list[str] = []

    def record(conn, cursor, statement, *rest):
        seen.append(" ".join(statement.split()))

    event.listen(app.runtime.db.engine, "before_cursor_execute", record)
    try:
        assert _say(app, fake_platform, "hello", "e1") == "echo: hello"
        time.sleep(0.2)             # mark_sent follows the delivery the platform just saw
    finally:
        event.remove(app.runtime.db.engine, "before_cursor_execute", record)
    assert not [s for s in seen if s.startswith("SELECT") and ("FROM inbox WHERE id" in s or "FROM outbox WHERE id" in s)], seen
    # one usage row write, and in the same transaction as the message's reply
    usage_at = [i for i, s in enumerate(seen) if s.startswith("INSERT INTO model_usage")]
    assert len(usage_at) == 1
    before = seen[:usage_at[0]]
    assert any(s.startswith("INSERT INTO outbox") for s in before[-12:]), seen
    with app.runtime.db.read() as conn:
        calls = conn.execute(sa.text("SELECT SUM(calls) FROM model_usage")).scalar()
    assert calls == 2


def test_a_turn_handled_again_after_a_failure_counts_its_usage_once(live_app, make_config, fake_model,
                                                                     fake_platform, monkeypatch):
    """The model answered, then handling failed and the message was handled again: its usage counts
    once, that of the handling whose outcome was stored."""
    app = live_app(make_config(model=fake_model))
    worker = app.runtime.worker
    real = worker.pipeline.handle
    failed: list[str] = []

    def answer_then_fail_once(msg):
        outcome = real(msg)
        if not failed:
            failed.append(msg.event_id)
            raise RuntimeError("failed after the model call")
        return outcome

    monkeypatch.setattr(worker.pipeline, "handle", answer_then_fail_once)
    assert _say(app, fake_platform, "hello", "e1", timeout=15) == "echo: hello"
    assert failed == ["e1"] and fake_model.calls() == 2
    with app.runtime.db.read() as conn:
        calls, tokens = conn.execute(sa.text("SELECT SUM(calls), SUM(prompt_tokens + completion_tokens) "
                                             "FROM model_usage")).one()
    assert (calls, tokens) == (1, 15)
