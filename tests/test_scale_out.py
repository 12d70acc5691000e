"""Scale-out on real servers: PostgreSQL, Redis and Celery, two app nodes and two workers.

The same burst of webhooks is sent to both nodes (every event twice, once per node), a worker is
killed with -9 in the middle, and every message still gets exactly one reply.
"""
from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

import pytest

from tests.support import toml_writer
from tests.support.apps import GunicornApp
from tests.support.postgres import fresh_schema

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
pytestmark = pytest.mark.skipif(
    not (DB_URL and REDIS_URL),
    reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL) and SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets both")


def _start_worker(config_path: Path, log_path: Path) -> subprocess.Popen:
    return subprocess.Popen([str(Path(sys.executable).parent / "smartbot"), "worker"],
                            env={**os.environ, "SMARTBOT_CONFIG": str(config_path)},
                            stdout=open(log_path, "ab"), stderr=subprocess.STDOUT, start_new_session=True)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(5)


def test_two_nodes_and_celery_workers_answer_each_message_exactly_once(tmp_path, fake_model, fake_platform):
    fake_model.delay = 0.05
    with fresh_schema(DB_URL) as url:
        config = {
            "database_url": url,
            "channels": {"generic": {"secret": "scale-out-secret-0123456789", "callback_url": fake_platform.hook_url}},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"backend": "celery", "broker_url": REDIS_URL, "queue": f"test-{uuid.uuid4().hex[:8]}",
                     "lease_seconds": 4.0, "sweep_seconds": 0.5},
        }
        nodes = []
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            nodes.append(GunicornApp(dict(config), tmp_path / name, workers=1).start())
        worker_conf = tmp_path / "worker.toml"
        worker_conf.write_text(toml_writer.dumps(config))
        workers = [_start_worker(worker_conf, tmp_path / f"worker{i}.log") for i in range(2)]
        try:
            events = [f"scale-{i}" for i in range(120)]

            def send(node: GunicornApp, event: str, i: int) -> None:
                for _ in range(20):
                    try:
                        resp = node.post_generic({"event_id": event, "chat_id": f"c{i % 9}", "user_id": f"u{i % 9}",
                                                  "text": f"m{i}"})
                        if resp.status_code == 200:
                            return
                    except Exception:
                        pass
                    time.sleep(0.1)
                raise AssertionError(f"{event} was never accepted")

            threads = []
            for i, event in enumerate(events):
                for node in nodes:
                    threads.append(threading.Thread(target=send, args=(node, event, i)))
                    threads[-1].start()
                if i == 40:
                    os.killpg(workers[0].pid, signal.SIGKILL)        # a worker dies mid-burst
            for t in threads:
                t.join()
            deadline = time.monotonic() + 90
            while time.monotonic() < deadline:
                answered = {r["json"]["reply_to"] for r in fake_platform.wait_for(0, 0)}
                if answered >= set(events):
                    break
                time.sleep(0.2)
            time.sleep(1.0)
            replies = collections.Counter(r["json"]["reply_to"] for r in fake_platform.received)
            missing = sorted(set(events) - set(replies))
            assert not missing, (missing, (tmp_path / "worker1.log").read_text()[-3000:])
            ids = {}
            for r in fake_platform.received:
                ids.setdefault(r["json"]["reply_to"], set()).add(r["json"]["event_id"])
            assert all(len(v) == 1 for v in ids.values()), "a message got two different replies"
            resent = sum(n - 1 for n in replies.values())
            assert resent <= 5, replies               # only sends cut off by the kill may repeat (same id)
        finally:
            for proc in workers:
                _stop(proc)
            for node in nodes:
                node.stop()
