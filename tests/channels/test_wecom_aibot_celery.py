"""WeCom's AI bot in connect mode with `[jobs] backend = "celery"`, on real PostgreSQL, Redis and Celery.

The AI bot takes replies only over its long connection, held by one web node; a `smartbot worker`
(Celery) writes the reply and cannot send it, so it leaves it in the outbox for the holder and rings
the holder's bell (Redis pub/sub). The holder sends it over its socket, once; and when the holder is
killed with the reply waiting, the node that takes the connection over sends it, once.
"""
from __future__ import annotations

import base64
import os
import signal
import subprocess
import uuid
from pathlib import Path
from typing import Any, Iterator

import pytest
import sqlalchemy as sa

from smartbot.gateway.outbox import holder_of
from smartbot.storage.db import Database
from tests.support import toml_writer
from tests.support.apps import GunicornApp
from tests.support.connect_mode import holder_pid
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.platform_clients import quiet_for
from tests.support.postgres import fresh_schema
from tests.support.recording_link import serving
from tests.support.waiting import wait_until
from tests.support.workers import start_worker, stop

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
pytestmark = [pytest.mark.skipif(
    not (DB_URL and REDIS_URL),
    reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL) and SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets both"),
    pytest.mark.alone]      # three to four processes with PostgreSQL pools and a kill -9

BOT_ID, BOT_SECRET = "aibot_celery", "aibot-celery-secret"
TAKEOVER = 30.0             # a holder stopped for a while (on a busy machine) keeps its lease: no second
#                             connection while it hangs; a killed one is replaced at once (same host)


@pytest.fixture
def wecom() -> Iterator[FakeWeComAiBot]:
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


class _Cluster:
    """Web nodes (one gunicorn worker each, a temporary folder each, as separate machines have) and a
    Celery worker on one PostgreSQL schema and one Redis broker queue, WeCom in connect mode."""

    def __init__(self, tmp_path: Path, url: str, fake_model: Any, wecom: FakeWeComAiBot) -> None:
        self.tmp_path, self.url = tmp_path, url
        self.config = {
            "database_url": url,
            "channels": {"wecom": {"mode": "connect", "bot_id": BOT_ID, "bot_secret": BOT_SECRET,
                                   "aibot_url": wecom.ws_url}, "takeover_seconds": TAKEOVER},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"backend": "celery", "broker_url": REDIS_URL, "queue": f"test-{uuid.uuid4().hex[:8]}",
                     "lease_seconds": 4.0, "sweep_seconds": 0.5},
            "quotas": {"messages_per_minute_per_role": {}},
        }
        self.nodes: list[GunicornApp] = []
        self.workers: list[subprocess.Popen] = []

    def node(self, name: str) -> GunicornApp:
        folder = self.tmp_path / name
        (folder / "tmp").mkdir(parents=True)
        self.nodes.append(GunicornApp(dict(self.config), folder, workers=1,
                                      env={"TMPDIR": str(folder / "tmp")}).start(timeout=90))
        return self.nodes[-1]

    def worker(self) -> subprocess.Popen:
        folder = self.tmp_path / "worker"
        (folder / "tmp").mkdir(parents=True)
        (folder / "worker.toml").write_text(toml_writer.dumps(self.config))
        self.workers.append(start_worker(folder / "worker.toml", folder / "worker.log", {"TMPDIR": str(folder / "tmp")}))
        return self.workers[-1]

    def worker_log(self) -> str:
        return (self.tmp_path / "worker" / "worker.log").read_text(errors="replace")

    def left_for_holder(self) -> int:
        """Replies waiting in the outbox for the process holding the connection."""
        db = Database(self.url)
        try:
            with db.read() as conn:
                return conn.execute(sa.text("SELECT COUNT(*) FROM outbox WHERE owner = :holder"),
                                    {"holder": holder_of("wecom")}).scalar()
        finally:
            db.dispose()

    def stop(self) -> None:
        for proc in self.workers:
            stop(proc)
        for node in self.nodes:
            node.stop()


@pytest.fixture
def cluster(tmp_path: Path, fake_model: Any, wecom: FakeWeComAiBot) -> Iterator[_Cluster]:
    with fresh_schema(DB_URL) as url:
        built = _Cluster(tmp_path, url, fake_model, wecom)
        try:
            yield built
        finally:
            built.stop()


def _message(msgid: str, text: str) -> dict[str, Any]:
    return {"msgid": msgid, "aibotid": BOT_ID, "chattype": "single", "from": {"userid": "lisi"},
            "msgtype": "text", "text": {"content": text}}


def _replies(wecom: FakeWeComAiBot) -> list[tuple[str, str]]:
    return [(r["headers"]["req_id"], r["body"]["stream"]["content"]) for r in wecom.delivered]


def _holding(cluster: _Cluster, node: GunicornApp, timeout: float = 30.0) -> int:
    """Wait until `node` holds the connection; the holding process's pid."""
    found: list[int] = []

    def holds() -> bool:
        pid = holder_pid(cluster.url, "wecom")
        found[:] = [pid] if pid in node.worker_pids() else []
        return bool(found)

    assert wait_until(holds, timeout, 0.2), f"{node.url} never held the connection:\n{node.log()}"
    return found[0]


def test_a_celery_worker_leaves_the_reply_and_the_holder_sends_it_once(cluster, wecom, fake_model):
    holder = _holding(cluster, cluster.node("a"))
    worker = cluster.worker()
    assert wecom.wait(lambda: len(wecom.subscriptions()) == 1, 20)
    req_id = wecom.message(_message("celery-msg-1", "你好"))
    assert len(wecom.wait_delivered(1, timeout=30)) == 1, cluster.worker_log()[-3000:]
    quiet_for(1.5)
    assert _replies(wecom) == [(req_id, "echo: 你好")]
    assert "left for the process holding the connection" in cluster.worker_log()
    assert holder_pid(cluster.url, "wecom") == holder != worker.pid
    assert cluster.left_for_holder() == 0 and fake_model.calls() == 1
    wecom.assert_one_at_a_time()


def test_the_holder_killed_with_the_reply_waiting_the_next_holder_sends_it_once(cluster, wecom, fake_model):
    first = cluster.node("a")
    holder = _holding(cluster, first)
    second = cluster.node("b")
    cluster.worker()
    wecom.message(_message("celery-kill-1", "第一条"))
    assert len(wecom.wait_delivered(1, timeout=30)) == 1, cluster.worker_log()[-3000:]
    fake_model.delay = 1.0
    pending = wecom.message(_message("celery-kill-2", "第二条"))
    assert wecom.wait(lambda: fake_model.calls() >= 2, 20), "the worker never asked the model"
    os.kill(holder, signal.SIGSTOP)         # the holder hangs: it can neither send nor renew its lease
    assert wait_until(lambda: cluster.left_for_holder() == 1, 20, 0.1), cluster.worker_log()[-3000:]
    quiet_for(0.5)
    assert len(wecom.delivered) == 1, "the reply went out without the holder"
    first.kill_all()                        # kill -9 with the reply waiting for it
    assert len(wecom.wait_delivered(2, timeout=40)) == 2, (second.log(), cluster.worker_log()[-3000:])
    quiet_for(2.0)
    assert sorted(text for _, text in _replies(wecom)) == ["echo: 第一条", "echo: 第二条"]
    assert [req for req, text in _replies(wecom) if text == "echo: 第二条"] == [pending]
    assert cluster.left_for_holder() == 0
    assert holder_pid(cluster.url, "wecom") not in (None, holder)
    wecom.assert_one_at_a_time()


def test_a_file_the_celery_worker_wrote_is_uploaded_and_pushed_by_the_holder_once(cluster, wecom, fake_model):
    from tests.pipeline.test_media import png
    from tests.support.platform_clients import model_answer

    holder = _holding(cluster, cluster.node("a"))
    worker = cluster.worker()
    assert wecom.wait(lambda: len(wecom.subscriptions()) == 1, 20)
    fake_model.script(model_answer(f"Chart: ![c](data:image/png;base64,{base64.b64encode(png(3, 3)).decode()})"))
    wecom.message(_message("celery-file-1", "draw"))
    assert wecom.wait(lambda: len(wecom.media_messages()) == 1, 30), cluster.worker_log()[-3000:]
    quiet_for(1.5)
    [image] = wecom.media_messages()
    assert image["msgtype"] == "image" and wecom.media() == {image["image"]["media_id"]: png(3, 3)}
    assert [r["body"]["stream"]["content"] for r in wecom.delivered if r["cmd"] == "aibot_respond_msg"] \
        == ["Chart: [c-1.png]"]
    assert len(wecom.uploads) == 1 and cluster.left_for_holder() == 0
    assert holder_pid(cluster.url, "wecom") == holder != worker.pid
    wecom.assert_one_at_a_time()
