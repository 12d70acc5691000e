"""Knowledge indexing on the scale-out backend: a web node under gunicorn that only stores documents
and hands out wake-ups, `smartbot worker` processes taking them from Celery over Redis, PostgreSQL
(its tsvector index). A document added through the API is indexed by a worker and found by the
search API; a worker killed (SIGKILL) part way through a long document leaves it half written under
a lease, and the next worker starts it over once the lease runs out and makes it ready, with each
chunk written once."""
from __future__ import annotations

import os
import signal
import time
import uuid

import pytest
import sqlalchemy as sa

from smartbot.storage.db import Database
from tests.support import toml_writer
from tests.support.admin_api import AdminApi
from tests.support.apps import GunicornApp
from tests.support.fake_embeddings import FakeEmbeddings
from tests.support.knowledge_files import wait_indexed
from tests.support.postgres import fresh_schema
from tests.support.waiting import wait_until
from tests.support.workers import start_worker, stop

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")
REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
pytestmark = [pytest.mark.skipif(
    not (DB_URL and REDIS_URL),
    reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL) and SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets both"),
    pytest.mark.alone]      # a web node and Celery workers, each with a PostgreSQL pool, and a kill -9

LEASE = 4.0
SECTIONS = 1200         # with 200-character chunks: several batches of embeddings, each a little slow


def _manual() -> str:
    sections = "".join(f"## Part {n}\n\nPart {n} of the kettle fits only model K{n} and is sold separately.\n\n"
                        for n in range(SECTIONS))
    return "# Kettle manual\n\n" + sections + "## Descaling\n\nDescale the kettle monthly with citric acid.\n"


def _document(db: Database, title: str):
    with db.read() as conn:
        return conn.execute(sa.text("SELECT id, status, progress, chunks, owner FROM knowledge_documents "
                                    "WHERE title = :t"), {"t": title}).one_or_none()


def _chunk_rows(db: Database, document_id: int) -> tuple[int, int]:
    """(chunks, distinct positions) of a document."""
    with db.read() as conn:
        return tuple(conn.execute(sa.text("SELECT COUNT(*), COUNT(DISTINCT position) FROM knowledge_chunks "
                                          "WHERE document_id = :d"), {"d": document_id}).one())


def test_documents_are_indexed_by_celery_workers_and_a_killed_one_is_started_over(tmp_path, fake_model):
    embeddings = FakeEmbeddings().start()
    with fresh_schema(DB_URL) as url:
        config = {
            "database_url": url,
            "providers": [{"name": "main", "base_url": fake_model.base_url, "model": "m"},
                          {"name": "emb", "base_url": embeddings.base_url, "model": "emb-1"}],
            "knowledge": {"embeddings_provider": "emb", "chunk_chars": 200, "chunk_overlap": 0},
            "jobs": {"backend": "celery", "broker_url": REDIS_URL, "queue": f"test-{uuid.uuid4().hex[:8]}",
                     "lease_seconds": LEASE, "sweep_seconds": 0.5},
        }
        (tmp_path / "web").mkdir()
        node = GunicornApp(dict(config), tmp_path / "web", workers=1).start()
        (tmp_path / "worker.toml").write_text(toml_writer.dumps(config))
        workers = [start_worker(tmp_path / "worker.toml", tmp_path / "worker-1.log")]
        db = Database(url)
        try:
            api = AdminApi(node, db=db)
            assert api.post("/knowledge/spaces", {"name": "manuals"}).status_code == 201
            added = api.post("/knowledge/spaces/manuals/documents",
                             {"title": "Opening hours", "text": "# Hours\n\nThe shop opens at ten every weekday."})
            assert added.status_code == 202
            assert wait_indexed(api, "manuals", "Opening hours", timeout=30)["status"] == "ready", \
                (tmp_path / "worker-1.log").read_text()[-3000:]
            found = api.post("/knowledge/spaces/manuals/search", {"query": "when does the shop open?"}).json()
            best = found["results"][0]
            assert best["title"] == "Opening hours" and "ten every weekday" in best["text"]

            embeddings.delay = 0.8                # each batch of chunks waits for its vectors
            assert api.post("/knowledge/spaces/manuals/documents",
                            {"title": "Kettle manual", "text": _manual()}).status_code == 202
            assert wait_until(lambda: (_document(db, "Kettle manual").progress or 0) > 40, 40)
            half = _document(db, "Kettle manual")
            os.killpg(workers[0].pid, signal.SIGKILL)               # dies with the document half written
            workers[0].wait(10)
            assert half.status == "indexing" and half.progress < 99, half
            written, _ = _chunk_rows(db, half.id)
            assert 0 < written, "chunks were written before the kill"
            time.sleep(LEASE + 1.0)
            assert _document(db, "Kettle manual").status == "indexing"       # nobody to take it over yet

            embeddings.delay = 0.0
            workers.append(start_worker(tmp_path / "worker.toml", tmp_path / "worker-2.log"))
            done = wait_indexed(api, "manuals", "Kettle manual", timeout=60)
            assert done["status"] == "ready", (tmp_path / "worker-2.log").read_text()[-3000:]
            after = _document(db, "Kettle manual")
            assert after.progress == 100 and half.owner is not None
            chunks, positions = _chunk_rows(db, after.id)
            assert chunks == positions == after.chunks > written
            found = api.post("/knowledge/spaces/manuals/search", {"query": "how to descale with citric acid"}).json()
            assert found["results"][0]["title"] == "Kettle manual"
            assert "citric acid" in found["results"][0]["text"]
        finally:
            for worker in workers:
                stop(worker)
            node.stop()
            db.dispose()
            embeddings.stop()
