"""Scale-out on real servers: PostgreSQL, Redis and Celery, two app nodes and two workers.

A burst of webhooks goes to both nodes, a worker is killed with -9 in the middle, and every message
still gets exactly one reply; and a message handled again after the kill counts once against its
sender's per-minute limit.
"""
from __future__ import annotations

import collections
import contextlib
import os
import signal
import subprocess
import threading
import time
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from tests.support import toml_writer
from tests.support.apps import GunicornApp
from tests.support.postgres import fresh_schema
from tests.support.waiting import wait_until
from tests.support.workers import start_worker, stop

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
pytestmark = [pytest.mark.skipif(
    not (DB_URL and REDIS_URL),
    reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL) and SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets both"),
    pytest.mark.alone]      # four processes with PostgreSQL pools, and a burst that must fit in a minute


@contextlib.contextmanager
def _cluster(tmp_path: Path, fake_model: Any, fake_platform: Any,
             **extra: Any) -> Iterator[tuple[list[GunicornApp], list[subprocess.Popen], str]]:
    """Two web nodes (one gunicorn worker each) and two `smartbot worker` processes on one
    PostgreSQL schema and one Redis broker queue; also the schema's database URL."""
    with fresh_schema(DB_URL) as url:
        config = {
            "database_url": url,
            "channels": {"generic": {"secret": "scale-out-secret-0123456789", "callback_url": fake_platform.hook_url}},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"backend": "celery", "broker_url": REDIS_URL, "queue": f"test-{uuid.uuid4().hex[:8]}",
                     "lease_seconds": 4.0, "sweep_seconds": 0.5},
            **extra,
        }
        nodes = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            nodes.append(GunicornApp(dict(config), tmp_path / name, workers=1).start())
        worker_conf = tmp_path / "worker.toml"
        worker_conf.write_text(toml_writer.dumps(config))
        workers = [start_worker(worker_conf, tmp_path / f"worker{i}.log") for i in range(2)]
        try:
            yield nodes, workers, url
        finally:
            for proc in workers:
                stop(proc)
            for node in nodes:
                node.stop()


def _send(node: GunicornApp, payload: dict[str, Any]) -> None:
    for _ in range(20):
        try:
            if node.post_generic(payload).status_code == 200:
                return
        except Exception:
            pass
        time.sleep(0.1)
    raise AssertionError(f"{payload['event_id']} was never accepted")


def _replies_by_message(fake_platform: Any, events: list[str], timeout: float, nodes: list[GunicornApp],
                        workers: list[subprocess.Popen]) -> dict[str, set[tuple[str, str]]]:
    """Wait until every event has a reply, stop the cluster (a send under way finishes first, and
    nothing can send after it); then each event's distinct (reply id, text) pairs."""
    wait_until(lambda: {r["json"]["reply_to"] for r in fake_platform.received} >= set(events), timeout, 0.2)
    for proc in workers:
        stop(proc)
    for node in nodes:
        node.stop()
    replies: dict[str, set[tuple[str, str]]] = collections.defaultdict(set)
    for r in fake_platform.received:
        replies[r["json"]["reply_to"]].add((r["json"]["event_id"], r["json"]["text"]))
    return replies


def test_two_nodes_and_celery_workers_answer_each_message_exactly_once(tmp_path, fake_model, fake_platform):
    fake_model.delay = 0.05
    with _cluster(tmp_path, fake_model, fake_platform) as (nodes, workers, _):
        events = [f"scale-{i}" for i in range(120)]
        threads = []
        for i, event in enumerate(events):
            for node in nodes:          # every event twice, once per node
                payload = {"event_id": event, "chat_id": f"c{i % 9}", "user_id": f"u{i % 9}", "text": f"m{i}"}
                threads.append(threading.Thread(target=_send, args=(node, payload)))
                threads[-1].start()
            if i == 40:
                os.killpg(workers[0].pid, signal.SIGKILL)        # a worker dies mid-burst
        for t in threads:
            t.join()
        replies = _replies_by_message(fake_platform, events, 90, nodes, workers)
        missing = sorted(set(events) - set(replies))
        assert not missing, (missing, (tmp_path / "worker1.log").read_text()[-3000:])
        assert all(len({reply_id for reply_id, _ in v}) == 1 for v in replies.values()), \
            "a message got two different replies"
        counts = collections.Counter(r["json"]["reply_to"] for r in fake_platform.received)
        resent = sum(n - 1 for n in counts.values())
        assert resent <= 5, counts               # only sends cut off by the kill may repeat (same id)


def _leases(url: str) -> collections.Counter:
    """How many inbox rows each process holds leased, by pid (owner ids are host:pid:start)."""
    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://", 1))
    try:
        with engine.connect() as conn:
            rows = conn.execute(sa.text("SELECT owner, COUNT(*) FROM inbox WHERE status = 'leased' "
                                        "GROUP BY owner")).all()
    finally:
        engine.dispose()
    return collections.Counter({int(owner.rsplit(":", 2)[1]): n for owner, n in rows})


@pytest.mark.parametrize("counted_in", ["redis", "database"])
def test_a_message_handled_again_after_a_kill_counts_once_against_the_rate(tmp_path, fake_model, fake_platform,
                                                                           counted_in):
    """20 guests send 10 messages each within a minute (the guest limit is 10 a minute) while a
    worker is killed with -9 in the middle of handling some: the other worker handles those again,
    and each still counts once, so none is answered "faster than 10 a minute". The rate is counted
    in Redis ([cache] url) or, without it, in the shared database."""
    fake_model.delay = 0.3
    run = uuid.uuid4().hex[:8]          # Redis outlives the test: its rate windows must be this run's own
    cache = {"url": REDIS_URL} if counted_in == "redis" else {}
    with _cluster(tmp_path, fake_model, fake_platform, cache=cache) as (nodes, workers, url):
        guests = [f"{run}-g{g}" for g in range(20)]
        events = [f"{guest}-m{m}" for guest in guests for m in range(10)]

        def guest_sends(g: int, guest: str) -> None:
            for m in range(10):
                _send(nodes[(g + m) % 2], {"event_id": f"{guest}-m{m}", "chat_id": guest, "user_id": guest,
                                           "text": f"{guest} says {m}"})
                time.sleep(0.05)

        threads = [threading.Thread(target=guest_sends, args=(g, guest)) for g, guest in enumerate(guests)]
        started = time.monotonic()
        for t in threads:
            t.start()
        pids = {w.pid for w in workers}
        holding: list[int] = []

        def handling_is_under_way() -> bool:     # messages counted and at the model, some of them held here
            holding[:] = [pid for pid, n in _leases(url).most_common() if pid in pids and n >= 3]
            return bool(holding) and fake_model.calls() >= 40

        assert wait_until(handling_is_under_way, 30), "the workers never got going"
        os.killpg(holding[0], signal.SIGKILL)                # a worker dies mid-burst, holding messages
        assert _leases(url)[holding[0]] > 0, "the killed worker held no message: nothing is handled again"
        for t in threads:
            t.join()
        wait_until(lambda: {r["json"]["reply_to"] for r in fake_platform.received} >= set(events), 90)
        assert time.monotonic() - started < 60, "the burst and its answers must fit in one minute"
        replies = _replies_by_message(fake_platform, events, 0, nodes, workers)
        missing = sorted(set(events) - set(replies))
        assert not missing, (missing, (tmp_path / "worker1.log").read_text()[-3000:])
        assert all(len(v) == 1 for v in replies.values()), "a message got two different replies"
        too_fast = sorted(event for event, v in replies.items() if any("faster than" in text for _, text in v))
        assert not too_fast, f"{len(too_fast)} messages were refused as too fast: {too_fast}"
        assert all(text.startswith("echo: ") for v in replies.values() for _, text in v)
