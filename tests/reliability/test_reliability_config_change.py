"""Configuration changed through the admin API during a burst, under gunicorn with two workers:
the active provider is switched and a rule is added. Both apply without a restart in every
process, and no message is lost or answered twice. The long version is
bench/reliability_faults.py config."""
from __future__ import annotations

from smartbot.storage.db import Database
from tests.support.admin_api import AdminApi
from tests.support.fake_model import FakeModel
from tests.support.fault_scenarios import config_change_burst


def test_switching_provider_and_adding_a_rule_mid_burst_applies_live_and_loses_nothing(
        gunicorn_app, make_config, fake_model, fake_platform):
    alt = FakeModel().start()
    config = make_config(model=fake_model)
    db = Database(config["database_url"])
    try:
        app = gunicorn_app(config, workers=2)
        api = AdminApi(app, db=db)
        created = api.post("/providers", {"name": "alt", "kind": "openai", "base_url": alt.base_url,
                                          "model": "alt-1"})
        assert created.status_code == 201, created.text
        count = 240
        report = config_change_burst(app, fake_platform, fake_model, "alt", api, count, pace=0.05)
        print("\n" + "\n".join(report.lines()))
        extra, result = report.extra, report.result
        assert extra["changed mid-burst"], "the burst ended before the rule was added; nothing was tested"
        assert len(result.sent) == count and result.unanswered == [], (result.unanswered[:10], app.log())
        assert result.answered_twice == {} and report.statuses == {200: count}
        assert extra["answered by alt after the switch"] > 0
        assert extra["went to the old provider after the switch (+1 s)"] == 0
        assert extra["matched the new rule (+1 s)"] > 0 and extra["missed the new rule (+1 s)"] == 0
        assert extra["other replies not the model's echo"] == 0
    finally:
        db.dispose()
        alt.stop()
