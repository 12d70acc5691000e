"""Workflows on the scale-out backend: a web node under gunicorn that only accepts and hands out
work, a `smartbot worker` taking wake-ups from Celery over Redis, PostgreSQL. The three-step
workflow runs from chat, from the API and on a schedule, each exactly once."""
from __future__ import annotations

import os
import time
import uuid

import pytest
import sqlalchemy as sa

from smartbot.storage.db import Database
from tests.support import toml_writer
from tests.support.admin_api import AdminApi
from tests.support.apps import GunicornApp
from tests.support.executor import bind
from tests.support.postgres import fresh_schema
from tests.support.waiting import wait_until
from tests.support.workflows import REPORT, add_report_command, replies, wait_run
from tests.support.workers import start_worker, stop

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
pytestmark = [pytest.mark.skipif(
    not (DB_URL and REDIS_URL),
    reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL) and SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets both"),
    pytest.mark.alone]      # app nodes and Celery workers, each with a PostgreSQL pool


def _texts(platform) -> list[str]:
    return [r["json"]["text"] for r in platform.received]


def test_workflows_run_on_celery_workers_from_chat_api_and_schedule(tmp_path, fake_model, fake_platform):
    with fresh_schema(DB_URL) as url:
        config = {
            "database_url": url,
            "channels": {"generic": {"secret": "workflow-celery-secret-0123456789",
                                     "callback_url": fake_platform.hook_url}},
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"}],
            "jobs": {"backend": "celery", "broker_url": REDIS_URL, "queue": f"test-{uuid.uuid4().hex[:8]}",
                     "lease_seconds": 4.0, "sweep_seconds": 0.5},
        }
        (tmp_path / "web").mkdir()
        node = GunicornApp(dict(config), tmp_path / "web", workers=1).start()
        (tmp_path / "worker.toml").write_text(toml_writer.dumps(config))
        worker = start_worker(tmp_path / "worker.toml", tmp_path / "worker.log")
        db = Database(url)
        try:
            bind(db, "op", "olga", ["operator"])
            add_report_command(db)
            api = AdminApi(node, db=db)
            assert api.post("/workflows", {"yaml": REPORT}).status_code == 201
            resp = node.post_generic({"event_id": "wf-chat", "chat_id": "c1", "user_id": "op",
                                      "text": "/workflow disk-report"})
            assert resp.status_code == 200
            by_chat = wait_run(db, timeout=30)
            assert by_chat.status == "succeeded", (tmp_path / "worker.log").read_text()[-3000:]
            assert replies(fake_platform, "wf-chat", 3)[1:] == ["Summary: echo: Summarise for olga: disk 42% used",
                                                                f"Workflow disk-report (run #{by_chat.id}) finished."]
            started = api.post("/workflows/disk-report/runs", {"channel": "generic", "chat_id": "c2"})
            assert started.status_code == 202 and wait_run(db, started.json()["id"], timeout=30).status == "succeeded"
            schedule = api.post("/schedules", {"workflow": "disk-report", "cron": "0 3 * * *", "owner": "olga",
                                             "channel": "generic", "chat_id": "c3"}).json()
            with db.write() as conn:
                conn.execute(sa.text("UPDATE schedules SET next_run_at = 1 WHERE id = :i"), {"i": schedule["id"]})
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline:
                with db.read() as conn:
                    fired = conn.execute(sa.text("SELECT id FROM workflow_runs WHERE trigger = 'schedule'")).all()
                if fired:
                    break
                time.sleep(0.1)
            assert len(fired) == 1 and wait_run(db, fired[0].id, timeout=30).status == "succeeded"
            olga, root = (f"Summary: echo: Summarise for {who}: disk 42% used" for who in ("olga", "root"))
            with db.read() as conn:
                next_run = conn.execute(sa.text("SELECT next_run_at FROM schedules WHERE id = :i"),
                                        {"i": schedule["id"]}).scalar()
            assert next_run > time.time(), "the schedule did not move on: it could fire again"
            wait_until(lambda: _texts(fake_platform).count(olga) >= 2 and _texts(fake_platform).count(root) >= 1, 30)
            stop(worker)                          # sends under way finish; nothing can fire or send after
            node.stop()
            with db.read() as conn:
                assert conn.execute(sa.text("SELECT COUNT(*) FROM workflow_runs")).scalar() == 3
            texts = _texts(fake_platform)
            assert texts.count(olga) == 2     # chat and schedule
            assert texts.count(root) == 1
        finally:
            stop(worker)
            node.stop()
            db.dispose()
