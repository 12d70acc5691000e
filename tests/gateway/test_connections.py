"""The connection host: one holder per channel, fenced; takeover after kill -9; two nodes on PostgreSQL.

The lease rules are checked on the database itself (SQLite, and PostgreSQL when the test run has
one); the takeovers with the app under gunicorn against the fake Telegram Bot API, which records
every getUpdates call and any two that overlap.
"""
from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Iterator

import pytest
import sqlalchemy as sa

from smartbot.gateway.connections import Leases, states
from smartbot.storage.liveness import owner_id
from tests.channels.test_telegram_polling import polling_config, telegram  # noqa: F401 - the fixture
from tests.support import fake_telegram
from tests.support.admin_page import admin_of
from tests.support.apps import GunicornApp
from tests.support.connect_mode import TAKEOVER, holder_pid, two_nodes
from tests.support.fake_telegram import FakeTelegram, text_update
from tests.support.platform_clients import audit_rows, quiet_for
from tests.support.prometheus import families, samples
from tests.support.waiting import wait_until

ELSEWHERE = "another-node:4242:1"       # a holder on another host: only its row's expiry frees it


# -- the lease rules ----------------------------------------------------------------------------
def test_one_holder_at_a_time_and_a_new_token_at_each_change(db):
    leases = Leases(db)
    assert leases.take("telegram", ELSEWHERE, ttl=0.3) == 1
    assert leases.take("telegram", owner_id(), ttl=5) is None          # held, alive (as far as we can tell)
    time.sleep(0.4)
    assert leases.take("telegram", owner_id(), ttl=5) == 2             # expired: taken, a new token
    assert leases.take("slack", owner_id(), ttl=5) == 1                # channels are held one by one


def test_a_holder_that_lost_its_lease_writes_nothing_more(db):
    leases = Leases(db)
    old = leases.take("telegram", ELSEWHERE, ttl=0.2)
    assert leases.save_cursor("telegram", ELSEWHERE, old, {"offset": 10})
    time.sleep(0.3)
    new = leases.take("telegram", owner_id(), ttl=5)
    assert new == old + 1
    assert not leases.save_cursor("telegram", ELSEWHERE, old, {"offset": 5})      # fenced off
    assert not leases.renew("telegram", ELSEWHERE, old, 5, {"connected": True, "state": "", "changed": 0,
                                                             "event": 0, "reconnects": 0})
    assert leases.cursor("telegram") == {"offset": 10}
    assert leases.save_cursor("telegram", owner_id(), new, {"offset": 12})
    assert leases.cursor("telegram") == {"offset": 12}


def test_a_dead_holder_on_this_host_is_replaced_at_once(db):
    leases = Leases(db)
    dead = f"{owner_id().split(':')[0]}:999999:1"          # this host, a pid that is not running
    assert leases.take("telegram", dead, ttl=60) == 1
    assert leases.take("telegram", owner_id(), ttl=60) == 2
    assert states(db)["telegram"]["held"]


def test_takeover_seconds_is_bounded(tmp_path):
    from smartbot.errors import ConfigError
    from smartbot.settings.loading import load

    env = {"SMARTBOT_SECRET_KEY": "k" * 40}
    for bad in ("nan", "inf", "1e12", "0", "-3"):
        with pytest.raises(ConfigError, match="takeover_seconds"):
            load({"channels": {"takeover_seconds": bad}}, env=env)
    with pytest.raises(ConfigError, match=r"channels\.generic\.mode"):
        load({"channels": {"generic": {"secret": "s" * 20, "callback_url": "https://x.example", "mode": "connect"}}},
             env=env)
    assert load({"channels": {"takeover_seconds": 30}}, env=env).connections.takeover_seconds == 30
    config = tmp_path / "smartbot.toml"
    config.write_text('[channels]\ntakeover_seconds = nan\n')
    res = subprocess.run([str(Path(sys.executable).parent / "smartbot"), "check-config"], capture_output=True,
                         text=True, env={**os.environ, **env, "SMARTBOT_CONFIG": str(config)}, timeout=60)
    assert res.returncode != 0 and "channels.takeover_seconds" in res.stdout + res.stderr


def test_connect_mode_without_a_connector_is_refused_naming_the_fix(monkeypatch):
    from smartbot.channels.connect import registry
    from smartbot.errors import ConfigError

    monkeypatch.setitem(registry._CONNECTORS, "telegram", ("smartbot.channels.connect.not_here:Nothing", ""))
    with pytest.raises(ConfigError, match='no connector for telegram yet -- use mode = "webhook"'):
        registry.check("telegram")
    monkeypatch.setitem(registry._CONNECTORS, "telegram", ("tests.support.missing_library:Nothing", "telegram"))
    with pytest.raises(ConfigError, match=r"needs a library that is not installed .*smartbot\[telegram\]"):
        registry.check("telegram")


# -- takeover under gunicorn -------------------------------------------------------------------
def _answered(telegram: FakeTelegram) -> list[str]:
    return [s["text"] for s in telegram.sent]


def test_kill_9_of_the_holder_mid_stream_another_worker_takes_over_and_each_update_is_answered_once(
        gunicorn_app, make_config, fake_model, telegram, database_url):
    """The kill lands while updates stream in and are stored, but while no reply is on its way:
    Telegram's sendMessage has no idempotency key, so a reply whose sender dies between Telegram's
    answer and the outbox's commit goes again (the outbox's at-least-once window, not the
    connection's). The model's delay keeps replies from being sent at the moment of the kill."""
    app = gunicorn_app(polling_config(make_config, fake_model, telegram), workers=2)
    texts = [f"update {i}" for i in range(30)]
    for i, text in enumerate(texts[:10]):
        telegram.push(text_update(8000 + i % 3, 100 + i, text))
    assert len(telegram.wait_sent(10)) == 10
    holder = holder_pid(database_url, "telegram")
    assert holder in app.worker_pids()
    fake_model.delay = 1.0
    polls = len(telegram.poll_started)
    for i, text in enumerate(texts[10:20], start=10):
        telegram.push(text_update(8000 + i % 3, 100 + i, text))
        time.sleep(0.02)
    assert wait_until(lambda: len(telegram.poll_started) > polls, 5)      # the holder is taking them
    os.kill(holder, signal.SIGKILL)
    killed_at = time.time()
    for i, text in enumerate(texts[20:], start=20):
        telegram.push(text_update(8000 + i % 3, 100 + i, text))
    assert wait_until(lambda: any(t > killed_at for t in telegram.poll_started), TAKEOVER + 5)
    took_over = min(t for t in telegram.poll_started if t > killed_at) - killed_at
    assert took_over < TAKEOVER
    fake_model.delay = 0.0
    telegram.wait_sent(len(texts), timeout=60)
    quiet_for(2.0)
    assert sorted(_answered(telegram)) == sorted(f"echo: {t}" for t in texts)
    assert telegram.overlaps == []
    new_holder = holder_pid(database_url, "telegram")
    assert new_holder and new_holder != holder


def test_connection_state_is_on_metrics_and_a_long_outage_alerts_the_admins(live_app, make_config, fake_model,
                                                                            telegram):
    config = polling_config(make_config, fake_model, telegram)
    config["alerts"] = {"chats": ["generic:ops-room"], "raise_after": 1.0, "check_seconds": 0.5}
    app = live_app(config)
    telegram.push(text_update(8100, 1, "hi"))
    telegram.wait_sent(1)
    def up() -> list[float]:
        fams = families(app.get("/metrics").text)
        return [s.value for s in samples(fams, "smartbot_connection_up") if s.labels["channel"] == "telegram"]
    assert wait_until(lambda: up() == [1.0], 5), (up(), app.get("/readyz").json())
    telegram.script_polls(*[(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})] * 4)
    assert wait_until(lambda: "connection:telegram" in app.runtime.alerts.firing(), 15)
    assert wait_until(lambda: "connection:telegram" not in app.runtime.alerts.firing(), 30)
    fams = families(app.get("/metrics").text)
    assert [s.value for s in samples(fams, "smartbot_connection_reconnects_total")
            if s.labels["channel"] == "telegram"] == [4.0]
    raised = [r for r in audit_rows(app, "alert.raised") if r.target == "connection:telegram"]
    resolved = [r for r in audit_rows(app, "alert.resolved") if r.target == "connection:telegram"]
    assert (len(raised), len(resolved)) == (1, 1)       # one alert, one recovery notice
    with app.runtime.db.read() as conn:
        texts = [r[0] for r in conn.execute(sa.text("SELECT payload FROM outbox WHERE channel = 'generic'"))]
    assert any("telegram connection has been down" in text for text in texts), texts


def test_connection_state_is_on_the_admin_dashboard_in_both_languages(live_app, make_config, fake_model, telegram):
    app = live_app(polling_config(make_config, fake_model, telegram))
    page = admin_of(app)

    def line(lang: str = "en") -> str:
        html = page.get(f"/admin?lang={lang}").text
        found = re.search(r'<li id="channel-telegram">(.*?)</li>', html, re.S)
        return found.group(1) if found else ""

    assert wait_until(lambda: "connected (0 reconnects)" in line(), 10), line()
    assert "已连接（重连 0 次）" in line("zh-CN")
    telegram.script_polls(*[(502, {"ok": False, "error_code": 502, "description": "Bad Gateway"})] * 20)
    assert wait_until(lambda: "not connected:" in line(), 15), line()
    assert "未连接：" in line("zh-CN") and fake_telegram.TOKEN not in line()


# -- two nodes on PostgreSQL -------------------------------------------------------------------


@pytest.fixture
def cluster(tmp_path: Path, fake_model, telegram) -> Iterator[tuple[list[GunicornApp], str]]:
    section = {"bot_token": fake_telegram.TOKEN, "api_base": telegram.base}
    with two_nodes(tmp_path, fake_model, "telegram", section) as both:
        yield both


def test_two_nodes_on_postgresql_hold_one_connection_and_hand_it_over(cluster, telegram):
    nodes, url = cluster
    for i in range(6):
        telegram.push(text_update(8200, i + 1, f"node message {i}"))
    telegram.wait_sent(6)
    holder = holder_pid(url, "telegram")
    holding = next(node for node in nodes if holder in node.worker_pids())
    other = next(node for node in nodes if node is not holding)
    assert telegram.max_polling == 1 and telegram.overlaps == []
    quiet_for(1.0)         # no reply on its way (see the kill -9 test above)
    holding.kill_all()
    killed_at = time.time()
    for i in range(6, 12):
        telegram.push(text_update(8200, i + 1, f"node message {i}"))
    telegram.wait_sent(12, timeout=30)
    quiet_for(1.0)
    assert sorted(_answered(telegram)) == sorted(f"echo: node message {i}" for i in range(12))
    assert min(t for t in telegram.poll_started if t > killed_at) - killed_at < TAKEOVER
    assert holder_pid(url, "telegram") in other.worker_pids()
    assert telegram.overlaps == []


def test_a_paused_holder_loses_the_connection_to_the_other_node_and_stays_quiet_when_it_wakes(cluster, telegram):
    """SIGSTOP, not kill: the holder's process is alive, so only its lease's expiry frees the
    channel; once it runs again, its hold has run out and it must neither poll nor save a cursor."""
    nodes, url = cluster
    telegram.push(text_update(8300, 1, "before the pause"))
    telegram.wait_sent(1)
    quiet_for(1.0)
    holder = holder_pid(url, "telegram")
    assert holder is not None
    other = next(node for node in nodes if holder not in node.worker_pids())
    os.kill(holder, signal.SIGSTOP)
    paused_at = time.time()
    try:
        telegram.push(text_update(8300, 2, "during the pause"))
        assert len(telegram.wait_sent(2, timeout=TAKEOVER + 5)) == 2
        assert min(t for t in telegram.poll_started if t > paused_at) - paused_at < TAKEOVER
        assert holder_pid(url, "telegram") in other.worker_pids()
    finally:
        os.kill(holder, signal.SIGCONT)
    resumed_at = time.time()
    telegram.push(text_update(8300, 3, "after the pause"))
    telegram.wait_sent(3)
    quiet_for(2.0)
    assert _answered(telegram) == ["echo: before the pause", "echo: during the pause", "echo: after the pause"]
    assert telegram.overlaps == [] and holder_pid(url, "telegram") in other.worker_pids()
    paused = next(node for node in nodes if node is not other)
    assert wait_until(lambda: "telegram connection: stopping (the lease went to another process" in paused.log(), 5)
