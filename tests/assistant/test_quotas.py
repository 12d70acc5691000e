"""Token and cost accounting and daily quotas, end to end: every answered call is counted per user,
provider and day; a user at their limit gets a clear reply and no model call."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from smartbot.assistant import usage
from smartbot.settings.loading import load
from smartbot.settings.sections import QuotaSettings
from smartbot.errors import ConfigError
from tests.support.chat import audit_rows, say


def _usage_rows(app) -> list:
    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT day, user_key, provider, calls, prompt_tokens, completion_tokens, cost "
                                    "FROM model_usage ORDER BY user_key")).all()


def test_a_guest_is_stopped_at_the_role_quota_without_a_model_call(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, quotas={"per_role": {"guest": 30}}))
    assert say(app, fake_platform, "one", "e1") == "echo: one"            # 15 tokens each (fake usage)
    assert say(app, fake_platform, "two", "e2") == "echo: two"            # 30: at the limit now
    refused = say(app, fake_platform, "three", "e3")
    assert "allowance of 30" in refused and fake_model.calls() == 2
    assert "额度" in say(app, fake_platform, "four", "e4", locale="zh-CN")
    assert say(app, fake_platform, "hi", "e5", user="u-2") == "echo: hi", "quotas are per user"
    event = audit_rows(app, "model.quota_exceeded")[0]
    assert event.target == "generic:u-1" and json.loads(event.details)["used"] == 30
    assert audit_rows(app, "message.handled")[2].result == "quota"


def test_usage_and_cost_are_recorded_per_user_provider_and_day(live_app, make_config, fake_model, fake_platform):
    config = make_config(model=fake_model)
    config["providers"][0].update(prompt_price_per_1k=0.5, completion_price_per_1k=2.0)
    app = live_app(config)
    say(app, fake_platform, "a", "e1")
    say(app, fake_platform, "b", "e2")
    say(app, fake_platform, "c", "e3", user="u-2")
    rows = _usage_rows(app)
    assert [(r.user_key, r.provider, r.calls, r.prompt_tokens, r.completion_tokens) for r in rows] == [
        ("generic:u-1", "main", 2, 20, 10), ("generic:u-2", "main", 1, 10, 5)]
    assert rows[0].cost == pytest.approx(2 * (10 * 0.5 + 5 * 2.0) / 1000)
    assert rows[0].day == usage.day_of()


def test_a_users_own_quota_wins_over_their_roles():
    quotas = QuotaSettings(per_role={"guest": 100, "user": 1000}, per_user={"alice": 5})
    assert usage.daily_limit(quotas, "alice", ("guest",)) == 5
    assert usage.daily_limit(quotas, "bob", ("guest", "user")) == 1000
    assert usage.daily_limit(quotas, "carol", ("guest", "admin")) is None, "a role without a quota is unlimited"
    assert usage.daily_limit(quotas, "dave", ()) is None


def test_a_negative_quota_stops_start_up_naming_the_key():
    with pytest.raises(ConfigError) as err:
        load({"quotas": {"per_role": {"guest": -1}}}, env={"SMARTBOT_SECRET_KEY": "k" * 40})
    assert err.value.key == "quotas.per_role.guest"


def test_a_guest_is_held_to_the_chat_rate_limit(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model, quotas={"messages_per_minute_per_role": {"guest": 3}}))
    answers = [say(app, fake_platform, f"m{i}", f"r{i}") for i in range(5)]
    assert answers[:3] == ["echo: m0", "echo: m1", "echo: m2"]
    assert all("faster than 3 a minute" in a for a in answers[3:])
    assert fake_model.calls() == 3
    assert len(audit_rows(app, "model.rate_limited")) == 1             # one audit row per user and minute
    assert say(app, fake_platform, "hi", "other", user="u-2") == "echo: hi", "the limit is per user"


def test_a_message_handled_again_after_its_lease_ran_out_counts_once(live_app, make_config, fake_model,
                                                                     fake_platform, monkeypatch):
    """A worker stalls (or dies) after the model answered; its lease runs out, another worker takes
    the message and handles it again. The message takes its sender's place in the minute once and
    spends its tokens against the daily quota once: it is answered, not refused as too fast."""
    quotas = {"messages_per_minute_per_role": {"guest": 1}, "per_role": {"guest": 1000}}
    app = live_app(make_config(model=fake_model, quotas=quotas, jobs={"sweep_seconds": 0.2}))
    pipeline = app.runtime.worker.pipeline
    real = pipeline.handle
    handled: list[str] = []

    def answer_while_the_lease_runs_out(msg):
        outcome = real(msg)                  # the rate counted, the model called
        handled.append(msg.event_id)
        if len(handled) == 1:                # meanwhile the lease expired and another host took the message
            with app.runtime.db.write() as conn:
                conn.execute(sa.text("UPDATE inbox SET owner = 'another-host:1:1', lease_until = 0"))
        return outcome

    monkeypatch.setattr(pipeline, "handle", answer_while_the_lease_runs_out)
    assert say(app, fake_platform, "one", "e1") == "echo: one"
    assert handled == ["e1", "e1"] and fake_model.calls() == 2, "the message was handled twice"
    rows = _usage_rows(app)
    assert [(r.calls, r.prompt_tokens + r.completion_tokens) for r in rows] == [(1, 15)]
    with app.runtime.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM outbox")).scalar() == 1, "answered once"
