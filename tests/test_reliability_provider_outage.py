"""The main model provider goes down in the middle of a burst and comes back before it ends: the
fallback provider answers meanwhile, every message gets its answer (none lost, none an error), and
the admins' chat gets exactly one alert and one recovery notice."""
from __future__ import annotations

import time

from tests.support.burst import Burst, message, wait_answered
from tests.support.fake_model import FakeModel
from tests.support.waiting import wait_until

OPS = "ops-room"


def test_provider_outage_mid_burst_fallback_answers_all_and_one_alert(live_app, make_config, fake_model,
                                                                      fake_platform):
    backup = FakeModel().start()
    try:
        config = make_config(model=fake_model, models={"default": "main", "fallback": ["backup"],
                                                       "breaker_cooldown": 0.5},
                             alerts={"chats": [f"generic:{OPS}"], "check_seconds": 0.2, "probe_seconds": 0.2,
                                     "probe_timeout": 1.0, "raise_after": 0.5, "resolve_after": 0.5,
                                     "cpu": 0, "memory": 0, "disk": 0, "queue_age_seconds": 0, "error_rate": 0})
        config["providers"].append({**config["providers"][0], "name": "backup", "base_url": backup.base_url})
        app = live_app(config)

        def ops_texts() -> list[str]:
            return [r["json"]["text"] for r in fake_platform.wait_for(0, 0) if r["json"]["chat_id"] == OPS]

        count = 150
        burst = Burst(app.url, app.secret, [message(i, 10, "out") for i in range(count)], threads=2,
                      pace=0.04).start()
        assert burst.wait_acked(count // 5, 30)
        fake_model.down = True                                   # every request, probes too: 503
        assert wait_until(lambda: len(ops_texts()) >= 1, 20), "no alert reached the admins' chat"
        assert wait_until(lambda: backup.calls() >= 10, 20), "the fallback never answered"
        fake_model.down = False
        assert burst.acked_count() < count, "the burst ended before the provider came back; nothing was tested"
        assert wait_until(lambda: len(ops_texts()) >= 2, 20), ops_texts()
        burst.join(60)
        result = wait_answered(lambda: fake_platform.wait_for(0, 0), burst.acked, 60)
        time.sleep(1.0)                                          # a second alert would arrive now
        assert len(result.sent) == count and result.unanswered == [], result.unanswered[:10]
        assert result.answered_twice == {}
        texts = {r["json"]["reply_to"]: r["json"]["text"] for r in fake_platform.received if r["json"]["reply_to"]}
        wrong = {e: t for e, t in texts.items() if e.startswith("out-") and t != f"echo: m{e.split('-')[1]}"}
        assert wrong == {}, list(wrong.items())[:5]
        alerts = ops_texts()
        assert len(alerts) == 2, alerts
        assert alerts[0].startswith("[SmartBot alert]") and "main" in alerts[0]
        assert alerts[1].startswith("[SmartBot recovered]") and "main" in alerts[1]
        served_by_main_after = sum(1 for r in fake_model.requests[-5:] if r["path"] == fake_model.chat_path)
        assert served_by_main_after > 0, "the main provider was never used again after it recovered"
    finally:
        backup.stop()
