"""Configuration changed through the admin API during a burst, under gunicorn with two workers:
the active provider is switched and a rule is added. Both apply without a restart in every
process, and no message is lost or answered twice."""
from __future__ import annotations

import re
import time

from smartbot.db import Database
from tests.support.admin_api import AdminApi
from tests.support.burst import Burst, message, wait_answered
from tests.support.fake_model import FakeModel

SETTLE = 1.0        # the other processes notice a change within a second (live_config)


def _user_texts(model: FakeModel) -> set[str]:
    return {r["json"]["messages"][-1]["content"] for r in list(model.requests)}


def test_switching_provider_and_adding_a_rule_mid_burst_applies_live_and_loses_nothing(
        gunicorn_app, make_config, fake_model, fake_platform):
    alt = FakeModel().start()
    try:
        config = make_config(model=fake_model)
        app = gunicorn_app(config, workers=2)
        db = Database(config["database_url"])
        api = AdminApi(app, db=db)
        created = api.post("/providers", {"name": "alt", "kind": "openai", "base_url": alt.base_url,
                                          "model": "alt-1"})
        assert created.status_code == 201, created.text
        count = 240
        burst = Burst(app.url, app.secret, [message(i, 12, "cfg") for i in range(count)], threads=4,
                      pace=0.05).start()
        assert burst.wait_acked(count // 4, 30)
        assert api.put("/models/active", {"default": "alt"}).status_code == 200
        switched_at = time.time()
        assert burst.wait_acked(count // 2, 30)
        rule = api.post("/rules", {"name": "sevens", "position": 1, "match": {"regex": r"^m\d*7$"},
                                   "action": "builtin", "params": {"name": "whoami"}})
        assert rule.status_code == 201, rule.text
        ruled_at = time.time()
        assert burst.acked_count() < count, "the burst ended before the rule was added; nothing was tested"
        burst.join(60)
        result = wait_answered(lambda: fake_platform.wait_for(0, 0), burst.acked, 60)
        time.sleep(0.5)
        assert len(result.sent) == count and result.unanswered == [], (result.unanswered[:10], app.log())
        assert result.answered_twice == {} and burst.server_errors() == {}
        texts = {r["json"]["reply_to"]: r["json"]["text"] for r in fake_platform.received}
        on_main, on_alt = _user_texts(fake_model), _user_texts(alt)
        late = {e for e, at in burst.acked_at.items() if at > switched_at + SETTLE}
        early = {e for e, at in burst.acked_at.items() if at < switched_at}
        text_of = {m["event_id"]: m["text"] for m in (message(i, 12, "cfg") for i in range(count))}
        assert on_alt and early and late
        assert not {text_of[e] for e in late} & on_main, "a message well after the switch went to the old provider"
        assert {text_of[e] for e in early} <= on_main | {t for t in text_of.values() if re.match(r"^m\d*7$", t)}
        sevens_late = [e for e in burst.acked_at if burst.acked_at[e] > ruled_at + SETTLE
                       and re.match(r"^m\d*7$", text_of[e])]
        assert sevens_late, "no message matched the new rule after it was added"
        assert all(not texts[e].startswith("echo:") for e in sevens_late), [texts[e] for e in sevens_late]
        others = [e for e in burst.acked if not re.match(r"^m\d*7$", text_of[e])]
        assert all(texts[e] == f"echo: {text_of[e]}" for e in others)
        db.dispose()
    finally:
        alt.stop()
