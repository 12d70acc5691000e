"""The main model provider goes down in the middle of a burst and comes back before it ends: the
fallback provider answers meanwhile, every message gets its answer (none lost, none an error), and
the admins' chat gets exactly one alert and one recovery notice. The long version is
bench/reliability_faults.py provider."""
from __future__ import annotations

from tests.support.chat import say
from tests.support.fake_model import FakeModel
from tests.support.fault_scenarios import provider_outage_burst

OPS = "ops-room"


def outage_config(make_config, main, backup) -> dict:
    config = make_config(model=main, models={"default": "main", "fallback": ["backup"], "breaker_cooldown": 0.5},
                         alerts={"chats": [f"generic:{OPS}"], "check_seconds": 0.2, "probe_seconds": 0.2,
                                 "probe_timeout": 1.0, "raise_after": 0.5, "resolve_after": 0.5,
                                 "cpu": 0, "memory": 0, "disk": 0, "queue_age_seconds": 0, "error_rate": 0})
    config["providers"].append({**config["providers"][0], "name": "backup", "base_url": backup.base_url})
    return config


def test_provider_outage_mid_burst_fallback_answers_all_and_one_alert(live_app, make_config, fake_model,
                                                                      fake_platform):
    backup = FakeModel().start()
    try:
        app = live_app(outage_config(make_config, fake_model, backup))
        count = 150
        report = provider_outage_burst(app, fake_platform, fake_model, backup, count, pace=0.05, ops_chat=OPS)
        print("\n" + "\n".join(report.lines()))
        extra, result = report.extra, report.result
        assert extra["alert arrived"], "no alert reached the admins' chat"
        assert extra["provider back before the burst ended"], "the burst ended before the provider came back"
        assert len(result.sent) == count and result.unanswered == [], result.unanswered[:10]
        assert result.answered_twice == {}
        assert extra["replies that are not the model's answer"] == []
        assert extra["answered by the fallback"] >= 10
        alerts = extra["admins' chat"]
        assert len(alerts) == 2, alerts
        assert alerts[0].startswith("[SmartBot alert]") and "main" in alerts[0]
        assert alerts[1].startswith("[SmartBot recovered]") and "main" in alerts[1]
        backup_calls = backup.calls()
        assert say(app, fake_platform, "after", "out-after") == "echo: after"
        assert backup.calls() == backup_calls, "the fallback still answers after main recovered"
    finally:
        backup.stop()
