"""Alerts: one message per outage and one recovery notice, once per cluster."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from smartbot import audit
from smartbot.settings.loading import load
from smartbot.errors import ConfigError
from smartbot.ops.alerts import Alerter
from smartbot.ops.monitors import Monitors
from smartbot.ops.probe import ProviderProbe
from tests.conftest import GENERIC_SECRET
from tests.support.outage import SwitchableModel


def _settings(tmp_path, **alerts):
    return load({"database_url": f"sqlite:///{tmp_path / 'a.db'}",
                 "channels": {"generic": {"secret": GENERIC_SECRET, "callback_url": "http://127.0.0.1:9/hook"}},
                 "alerts": {"chats": ["generic:ops-room", "generic:oncall"], **alerts}})


def _outbox(db) -> list:
    with db.read() as conn:
        return conn.execute(sa.text("SELECT order_key, payload FROM outbox ORDER BY id")).all()


def test_an_alert_is_sent_once_however_many_callers_raise_it(db, tmp_path):
    alerter = Alerter(db, _settings(tmp_path), ["generic"])
    won = []
    threads = [threading.Thread(target=lambda: won.append(alerter.raise_alert("disk:web-1", "disk full")))
               for _ in range(8)]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert won.count(True) == 1
    rows = _outbox(db)
    assert [r.order_key for r in rows] == ["generic:ops-room", "generic:oncall"]   # one message per admin chat
    assert "disk full" in rows[0].payload
    assert alerter.firing() == {"disk:web-1": "disk full"}
    assert alerter.resolve_alert("disk:web-1", "disk ok") is True
    assert alerter.resolve_alert("disk:web-1", "disk ok") is False
    assert alerter.resolve_alert("never-raised") is False
    assert alerter.raise_alert("disk:web-1", "disk full again") is True        # a new outage is a new alert
    assert len(_outbox(db)) == 6
    with db.read() as conn:
        actions = [r[0] for r in conn.execute(sa.text("SELECT action FROM audit_log WHERE action LIKE 'alert.%' "
                                                      "ORDER BY seq"))]
    assert actions == ["alert.raised", "alert.resolved", "alert.raised"]


def test_an_observation_older_than_the_alerts_last_change_does_not_flip_it_back(db, tmp_path):
    """A probe answer cached while a provider was down must not re-raise the alert that a model
    call in another worker resolved since (seen in the provider outage test on a loaded machine)."""
    alerter = Alerter(db, _settings(tmp_path), ["generic"])
    probe_sent = time.time()                              # the probe went out while main was down
    assert alerter.raise_alert("provider:main", "main is down", observed_at=probe_sent) is True
    assert alerter.resolve_alert("provider:main", "main is back") is True      # a call succeeded since
    assert alerter.raise_alert("provider:main", "main answers 503", observed_at=probe_sent) is False
    assert alerter.firing() == {}
    assert alerter.raise_alert("provider:main", "main is down again", observed_at=time.time()) is True
    assert alerter.resolve_alert("provider:main", "back", observed_at=probe_sent) is False
    assert alerter.firing() == {"provider:main": "main is down again"}


def test_alert_chats_must_name_a_configured_channel(db, tmp_path):
    with pytest.raises(ConfigError) as err:
        Alerter(db, _settings(tmp_path), ["webchat"])
    assert "alerts.chats[0]" in str(err.value) and "generic" in str(err.value)
    with pytest.raises(ConfigError) as bad:
        load({"alerts": {"chats": ["no-colon"]}})
    assert "alerts.chats[0]" in str(bad.value)


def test_a_flapping_problem_is_one_alert(db, tmp_path):
    settings = _settings(tmp_path, raise_after=10, resolve_after=30, cpu=0, memory=0, disk=0, error_rate=0,
                         queue_age_seconds=5)
    alerter = Alerter(db, settings, ["generic"])
    monitors = Monitors(settings.alerts, "en", db, alerter, ProviderProbe(lambda: [], 30, 1))
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO inbox (channel, event_id, order_key, payload, status, lease_until, attempts, "
                             "next_attempt_at, created_at, last_error) VALUES ('generic', 'old', 'k', '{}', 'queued', "
                             "0, 0, 0, :t, '')"), {"t": time.time() - 60})
    start = time.time()
    monitors.check(start)                       # problem seen, not yet for raise_after
    assert alerter.firing() == {}
    monitors.check(start + 11)
    assert list(alerter.firing()) == ["queue:inbox"]
    with db.write() as conn:
        conn.execute(sa.text("UPDATE inbox SET status = 'done'"))
    monitors.check(start + 12)                  # gone, but not for resolve_after yet
    with db.write() as conn:
        conn.execute(sa.text("UPDATE inbox SET status = 'queued'"))
    monitors.check(start + 13)                  # back again: still the same alert
    with db.write() as conn:
        conn.execute(sa.text("UPDATE inbox SET status = 'done'"))
    monitors.check(start + 14)
    monitors.check(start + 45)
    assert alerter.firing() == {}
    texts = [r.payload for r in _outbox(db) if r.order_key == "generic:ops-room"]
    assert len(texts) == 2 and "waiting" in texts[0] and "moving again" in texts[1]


def test_error_rate_monitor_counts_handled_messages(db, tmp_path):
    settings = _settings(tmp_path, raise_after=0, cpu=0, memory=0, disk=0, queue_age_seconds=0,
                         error_rate=0.5, error_min_messages=4)
    alerter = Alerter(db, settings, ["generic"])
    monitors = Monitors(settings.alerts, "en", db, alerter, ProviderProbe(lambda: [], 30, 1))
    with db.write() as conn:
        for result in ("ok", "error", "error", "error"):
            audit.record(conn, "message.handled", "generic:u", "generic:c", result, {})
    found = {f.key: f for f in monitors.check()}
    assert found["errors"].problem and "3 of the last 4" in found["errors"].text
    assert "errors" in alerter.firing()


def test_provider_outage_gives_one_alert_and_one_recovery_across_workers(gunicorn_app, make_config,
                                                                          fake_platform):
    model = SwitchableModel().start()
    try:
        config = make_config(alerts={"chats": ["generic:ops-room"], "check_seconds": 0.2, "probe_seconds": 0.2,
                                     "probe_timeout": 1.0, "raise_after": 0.6, "resolve_after": 1.0,
                                     "cpu": 0, "memory": 0, "disk": 0})
        config["providers"] = [{"name": "main", "kind": "openai", "base_url": model.base_url, "model": "m"}]
        app = gunicorn_app(config, workers=2)

        def alerts() -> list[str]:
            return [r["json"]["text"] for r in fake_platform.wait_for(0, 0)
                    if r["json"] and r["json"]["chat_id"] == "ops-room"]

        time.sleep(1.5)
        assert alerts() == []
        model.down = True
        deadline = time.monotonic() + 20
        while not alerts() and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)                          # both workers keep seeing the outage meanwhile
        assert len(alerts()) == 1 and "model provider main is unreachable" in alerts()[0], (alerts(), app.log())
        assert app.get("/readyz").status_code == 200, "a model outage took the node out of the load balancer"
        model.down = False
        deadline = time.monotonic() + 20
        while len(alerts()) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(2.0)
        texts = alerts()
        assert len(texts) == 2, (texts, app.log())
        assert texts[0].startswith("[SmartBot alert]") and texts[1].startswith("[SmartBot recovered]")
        assert "main is reachable again" in texts[1]
        assert app.get("/readyz").status_code == 200
    finally:
        model.stop()


def test_host_monitors_read_this_machine(db, tmp_path):
    settings = _settings(tmp_path, raise_after=0, queue_age_seconds=0, error_rate=0, cpu=1.0,
                         memory=0.0001, disk=0.0001)
    alerter = Alerter(db, settings, ["generic"])
    monitors = Monitors(settings.alerts, "en", db, alerter, ProviderProbe(lambda: [], 30, 1))
    found = {f.key.split(":")[0]: f for f in monitors.check()}
    assert found["memory"].problem and "% used" in found["memory"].text      # any machine uses > 0.01 %
    assert found["disk"].problem and "% full" in found["disk"].text
    assert "cpu" not in found or not found["cpu"].problem   # no reading yet, or never busier than 100 %
    assert {key.split(":")[0] for key in alerter.firing()} == {"memory", "disk"}


def test_a_busy_channel_that_falls_silent_alerts_once_and_recovers(db, tmp_path):
    from smartbot.gateway import inbox
    from smartbot.messages import InboundMessage

    settings = _settings(tmp_path, raise_after=0, resolve_after=0, cpu=0, memory=0, disk=0, queue_age_seconds=0,
                         error_rate=0, silent_after_hours=2, silent_min_messages=3)
    alerter = Alerter(db, settings, ["generic"])
    monitors = Monitors(settings.alerts, "en", db, alerter, ProviderProbe(lambda: [], 30, 1), ("generic",))
    for i in range(3):
        inbox.accept(db, InboundMessage(channel="generic", event_id=f"old{i}", chat_id="c", user_id="u", text="x"),
                     None, 30)
    with db.write() as conn:          # those three arrived three hours ago; nothing since
        conn.execute(sa.text("UPDATE inbox SET created_at = created_at - 10800"))
    assert {f.key: f.problem for f in monitors.check()}["silent:generic"] is True
    monitors.check()
    assert "silent:generic" in alerter.firing()
    alerts = [p for _, p in _outbox(db) if "received nothing" in p]
    assert len(alerts) == 2                              # one alert, to each of the two admin chats
    inbox.accept(db, InboundMessage(channel="generic", event_id="new", chat_id="c", user_id="u", text="x"), None, 30)
    monitors.check()
    assert "silent:generic" not in alerter.firing()
    assert len([p for _, p in _outbox(db) if "receiving messages again" in p]) == 2
