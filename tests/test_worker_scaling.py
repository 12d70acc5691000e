"""Workers on demand: one gunicorn worker while quiet, a second under load (sharing the clients'
keep-alive connections), back to one when quiet again; nothing lost or answered twice meanwhile."""
from __future__ import annotations

import os

import pytest

from smartbot.config import load
from smartbot.errors import ConfigError
from smartbot.ops.worker_scaling import bounded
from tests.conftest import GENERIC_SECRET
from tests.support.burst import Burst, message, wait_answered
from tests.support.waiting import wait_until


def test_the_master_keeps_between_idle_workers_and_workers_whatever_it_is_asked():
    assert [bounded(n, 1, 2) for n in (0, 1, 2, 3, 5)] == [1, 1, 2, 2, 2]
    assert [bounded(n, 2, 4) for n in (1, 3, 9)] == [2, 3, 4]
    assert bounded(1, 3, 2) == 2                       # never more idle workers than workers


def test_more_idle_workers_than_workers_is_refused_with_the_fix(tmp_path):
    with pytest.raises(ConfigError) as refused:
        load({"database_url": f"sqlite:///{tmp_path / 'a.db'}", "server": {"workers": 2, "idle_workers": 3}})
    assert refused.value.key == "server.idle_workers" and "at most" in str(refused.value)


def _established(pid: int, port: int) -> int:
    """How many TCP connections to `port` the process `pid` has accepted and holds."""
    inodes = set()
    for fd in os.listdir(f"/proc/{pid}/fd"):
        try:
            target = os.readlink(f"/proc/{pid}/fd/{fd}")
        except OSError:
            continue
        if target.startswith("socket:["):
            inodes.add(target[8:-1])
    count = 0
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            lines = open(table).read().splitlines()[1:]
        except OSError:
            continue
        for line in lines:
            parts = line.split()
            if int(parts[1].rsplit(":", 1)[1], 16) == port and parts[3] == "01" and parts[9] in inodes:
                count += 1
    return count


def test_a_second_worker_starts_under_load_takes_connections_and_retires_when_quiet(
        gunicorn_app, make_config, fake_model, fake_platform):
    config = make_config(model=fake_model, server={"idle_workers": 1, "idle_seconds": 2.0},
                         alerts={"check_seconds": 0.5})
    app = gunicorn_app(config, workers=2)
    assert len(app.worker_pids()) == 1, "more than the idle worker at rest"
    first = app.worker_pids()[0]
    burst = Burst(app.url, GENERIC_SECRET, [message(i, 40, "scale") for i in range(2000)], threads=12,
                  pace=0.03).start()
    try:
        assert wait_until(lambda: len(app.worker_pids()) == 2, 20), ("no second worker under load", app.log())
        second = next(pid for pid in app.worker_pids() if pid != first)
        # The senders' keep-alive connections were all opened to the first worker; some must move.
        assert wait_until(lambda: _established(second, app.port) > 0, 15), "the new worker got no connection"
    finally:
        burst.join(120)
    assert len(burst.acked) == 2000 and burst.server_errors() == {}, burst.statuses
    result = wait_answered(lambda: fake_platform.received, burst.acked, timeout=120)
    assert result.unanswered == [] and result.answered_twice == {}, (result.unanswered[:10], app.log())
    assert wait_until(lambda: len(app.worker_pids()) == 1, 30), ("the extra worker was never retired", app.log())
    after = app.post_generic({"event_id": "after-scale", "chat_id": "c", "user_id": "u", "text": "after"})
    assert after.status_code == 200
    assert wait_answered(lambda: fake_platform.received, ["after-scale"], timeout=30).unanswered == []
