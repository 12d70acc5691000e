"""Indexing on the job system survives a restart: a document left `indexing` by a process that died
(its lease run out, its chunks half written) is handed out again at the next sweep, started over
and made ready once; a search never sees a document that is not ready; a document removed while
it waits is left alone; a PDF's text is extracted on the worker, a broken one fails with a reason."""
from __future__ import annotations

import time

import sqlalchemy as sa

from smartbot.knowledge import retrieve, store
from smartbot.knowledge.embeddings import Embedder
from smartbot.knowledge.jobs import KNOWLEDGE, KnowledgeJobs
from smartbot.knowledge.settings import KnowledgeSettings
from tests.support.knowledge_files import pdf

TEXT = "# Returns\n\nUnopened goods go back within 30 days.\n\n# Hours\n\nWe open at nine."


def _jobs(db, owner: str, handed: list[int]) -> KnowledgeJobs:
    settings = KnowledgeSettings()
    return KnowledgeJobs(db, settings, Embedder(settings, None, None), owner, 30.0,
                         lambda kind, ids, delay: handed.extend(ids) if kind == KNOWLEDGE else None)


def _document(db, title: str, text: str | None, content: bytes | None = None, kind: str = "md") -> int:
    with db.write() as conn:
        if store.get_space(conn, "faq") is None:
            store.add_space(conn, "faq", "", 0.25)
        space_id = store.get_space(conn, "faq").id
        return store.put_document(conn, space_id, {"title": title, "url": "", "kind": kind, "size": 1, "text": text,
                                                   "content": content, "added_by": "test"})


def _status(db, document_id: int) -> tuple[str, int, int]:
    with db.read() as conn:
        row = store.get_document(conn, document_id)
        return row.status, row.progress, row.chunks


def test_a_document_left_half_indexed_by_a_dead_process_is_indexed_again_once(db):
    settings = KnowledgeSettings()
    document_id = _document(db, "Policy", TEXT)
    with db.write() as conn:          # a process claimed it, wrote a chunk, and died
        assert store.claim(conn, document_id, "dead-worker", time.time() + 30, time.time())
        store.add_chunks(conn, document_id, [{"space_id": 1, "document_id": document_id, "position": 0, "heading": "",
                                 "text": "half written", "embedding": None}])
    assert retrieve(db, settings, ["faq"], "when do you open") == []        # not ready: never seen
    handed: list[int] = []
    jobs = _jobs(db, "new-worker", handed)
    assert jobs.recover() == [] and handed == []             # its lease still runs
    with db.write() as conn:
        conn.execute(sa.text("UPDATE knowledge_documents SET lease_until = 0 WHERE id = :id"), {"id": document_id})
    assert jobs.recover() == [document_id] and handed == [document_id]
    for handed_id in handed + handed:                         # handed out twice, indexed once
        jobs.run(handed_id)
    assert _status(db, document_id) == ("ready", 100, 2)
    with db.read() as conn:
        texts = [r[0] for r in conn.execute(sa.text("SELECT text FROM knowledge_chunks ORDER BY position"))]
    assert "half written" not in texts and len(texts) == 2
    assert [f.text for f in retrieve(db, settings, ["faq"], "when do you open")][:1] == ["Hours\n\nWe open at nine."]
    assert jobs.recover() == []


def test_pending_documents_are_found_at_start_and_removed_ones_skipped(db):
    first, second = _document(db, "A", "alpha text"), _document(db, "B", "beta text")
    handed: list[int] = []
    jobs = _jobs(db, "worker", handed)
    assert jobs.recover() == [first, second]
    with db.write() as conn:
        store.remove_document(conn, second)
    for document_id in handed:
        jobs.run(document_id)
    assert _status(db, first)[0] == "ready"
    with db.read() as conn:
        assert store.get_document(conn, second) is None
        assert conn.execute(sa.text("SELECT COUNT(*) FROM knowledge_chunks WHERE document_id = :d"),
                            {"d": second}).scalar() == 0


def test_pdf_text_is_read_on_the_worker_and_a_broken_pdf_fails_with_its_reason(db):
    good = _document(db, "Manual", None, pdf(["Press the blue button twice to descale."]), "pdf")
    broken = _document(db, "Broken", None, b"%PDF-1.4\n" + b"\x00garbage" * 20, "pdf")
    handed: list[int] = []
    jobs = _jobs(db, "worker", handed)
    jobs.recover()
    for document_id in handed:
        jobs.run(document_id)
    assert _status(db, good)[0] == "ready"
    assert retrieve(db, KnowledgeSettings(), ["faq"], "how to descale")[0].title == "Manual"
    with db.read() as conn:
        row = store.get_document(conn, broken, with_body=True)
        assert row.status == "failed" and row.error and row.content is None
        assert store.get_document(conn, good, with_body=True).content is None
