"""Chinese segmentation for knowledge search, both ways, on SQLite and PostgreSQL alike: jieba's
dictionary words (the `jieba` extra) and character bigrams (no dictionary) each find the Chinese
answers of the labelled set and nothing for unrelated questions; the index remembers the segmenter
that built it and is built again when it changes; asking for jieba without it installed is a
configuration error that says what to install."""
from __future__ import annotations

import subprocess
import sys
import time
from typing import Iterator

import pytest

from smartbot.errors import ConfigError
from smartbot.knowledge import retrieve, segment, store
from smartbot.knowledge.embeddings import Embedder
from smartbot.knowledge.jobs import KnowledgeJobs
from smartbot.knowledge.settings import KnowledgeSettings
from smartbot.knowledge.terms import query_terms, terms
from smartbot.settings.loading import load
from tests.support import knowledge_set

RECALL_FLOOR = 0.9      # measured: 1.0 with either segmenter (bench/knowledge.py prints both)
CHINESE = [(q, t) for q, t in knowledge_set.QUESTIONS if not q.isascii()]


@pytest.fixture(autouse=True)
def _segmenter_of_the_process() -> Iterator[None]:
    """Each test picks a segmenter; the next test starts from the default again."""
    yield
    segment.configure("auto")


def test_jieba_cuts_words_where_bigrams_cut_pairs():
    assert segment.configure("bigrams") == "bigrams"
    assert terms("营业时间") == ["营业", "业时", "时间"]
    assert segment.configure("jieba") == "jieba"
    cut = terms("营业时间")
    assert {"营业", "时间", "营业时间"} <= set(cut) and "业时" not in cut
    assert query_terms("你们几点开门？") == ["几点", "开门"]              # 你们: a stop word
    assert query_terms("会吗") == ["会"]                             # a lone character, when nothing else is left
    assert terms("Opening hours 营业") == ["open", "hour", "营业"]     # Latin words as before
    assert terms("ひらがな") == ["ひら", "らが", "がな"]                    # kana: bigrams, jieba is Chinese
    started = time.perf_counter()
    assert len(query_terms("营业时间上午十点" * 200_000)) <= 48             # a huge question costs no more
    assert time.perf_counter() - started < 2.0
    assert segment.configure("auto") == "jieba"                      # installed: auto takes it


@pytest.mark.parametrize("segmenter", ["jieba", "bigrams"])
def test_each_segmenter_finds_the_chinese_answers_and_nothing_unrelated(db, segmenter):
    segment.configure(segmenter)
    settings = KnowledgeSettings(chinese_segmenter=segmenter)
    embedder = Embedder(settings, None, None)
    knowledge_set.load(db, settings, embedder)
    assert len(CHINESE) >= 10
    assert knowledge_set.recall_at(db, settings, embedder, 5, questions=CHINESE) >= RECALL_FLOOR
    assert knowledge_set.recall_at(db, settings, embedder, 5) >= RECALL_FLOOR
    for question, title in CHINESE:
        found = retrieve(db, settings, ["shop"], question)
        assert found[0].relevant and found[0].title == title, (question, found[0].title, found[0].score)
    for question in [q for q in knowledge_set.UNRELATED if not q.isascii()] + ["明天北京会下雨吗？"]:
        assert not any(f.relevant for f in retrieve(db, settings, ["shop"], question)), question


def _jobs(db, segmenter: str, handed: list[int]) -> KnowledgeJobs:
    settings = KnowledgeSettings(chinese_segmenter=segmenter)
    return KnowledgeJobs(db, settings, Embedder(settings, None, None), f"worker-{segmenter}", 30.0,
                         lambda kind, ids, delay: handed.extend(ids))


def test_a_changed_segmenter_indexes_every_document_again(db):
    handed: list[int] = []
    jobs = _jobs(db, "bigrams", handed)
    with db.write() as conn:
        store.add_space(conn, "faq", "", 0.25)
        document_id = store.put_document(conn, store.get_space(conn, "faq").id, {
            "title": "营业时间", "url": "", "kind": "md", "size": 1, "content": None, "added_by": "test",
            "text": "# 营业时间\n\n上海门店周一至周五上午十点开门，晚上八点关门。"})
    assert jobs.recover() == [document_id]
    jobs.run(document_id)
    assert jobs.recover() == []
    settings = KnowledgeSettings(chinese_segmenter="jieba")
    jobs = _jobs(db, "jieba", handed)                 # the process restarts with jieba
    assert jobs.recover() == [document_id]
    jobs.run(document_id)
    found = retrieve(db, settings, ["faq"], "你们几点开门？")
    assert found and found[0].relevant and "十点开门" in found[0].text
    assert _jobs(db, "jieba", handed).recover() == []         # another process, same segmenter: nothing to do
    assert handed == [document_id, document_id]


def test_asking_for_jieba_without_it_installed_says_what_to_install(monkeypatch):
    monkeypatch.setitem(sys.modules, "jieba", None)          # as on a server without the extra
    with pytest.raises(ConfigError) as refused:
        load({"database_url": "sqlite://", "knowledge": {"chinese_segmenter": "jieba"}},
             env={"SMARTBOT_SECRET_KEY": "x" * 40})
    assert "smartbot[jieba]" in str(refused.value) and "chinese_segmenter" in str(refused.value)
    with pytest.raises(ConfigError):
        segment.configure("jieba")
    assert segment.configure("auto") == "bigrams"
    assert terms("营业时间") == ["营业", "业时", "时间"]
    with pytest.raises(ConfigError):
        segment.configure("words")


def test_jieba_is_imported_at_the_first_chinese_it_cuts_not_at_start():
    """Its import alone holds megabytes in every process (the master and each worker), read Chinese or not."""
    probe = ("import sys\nfrom smartbot.knowledge import segment\n"
             "print(segment.configure('auto'), 'jieba' in sys.modules)\n"
             "segment.cut('营业时间')\nprint('jieba' in sys.modules)\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.split() == ["jieba", "False", "True"], out.stderr
