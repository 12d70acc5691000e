"""Retrieval on the labelled set (tests/support/knowledge_set.py), on SQLite and PostgreSQL alike:
recall@5 above a floor with full-text search alone, Chinese questions finding Chinese answers,
unrelated questions finding nothing relevant; with a (fake) embeddings endpoint, questions that
share no word with their answer are found too, through reciprocal rank fusion."""
from __future__ import annotations

from typing import Iterator

import pytest

from smartbot.assistant.provider_store import ProviderStore
from smartbot.knowledge import retrieve
from smartbot.knowledge.embeddings import Embedder
from smartbot.knowledge.settings import KnowledgeSettings
from smartbot.llm.service import ModelService
from smartbot.settings import provisioning
from smartbot.settings.loading import load
from tests.support import knowledge_set
from tests.support.fake_embeddings import FakeEmbeddings

RECALL_FLOOR = 0.9      # measured: 1.0 on both dialects (bench/knowledge.py prints it)


@pytest.fixture
def embeddings() -> Iterator[FakeEmbeddings]:
    server = FakeEmbeddings().start()
    yield server
    server.stop()


def _embedder(db, settings: KnowledgeSettings, server: FakeEmbeddings | None) -> Embedder:
    """The embedder the app builds: a real provider store and model service, the provider from a
    [[providers]] entry as provisioned at start."""
    if server is None:
        return Embedder(settings, ModelService({}), ProviderStore(db))
    provisioning.provision(db, load({"database_url": "sqlite://", "providers": [
        {"name": "embed", "kind": "openai", "base_url": server.base_url, "model": "fake-embed"}]}, env={
        "SMARTBOT_SECRET_KEY": "x" * 40}))
    return Embedder(settings, ModelService({}), ProviderStore(db))


def test_full_text_recall_at_5_in_english_and_chinese(db):
    settings = KnowledgeSettings()
    embedder = _embedder(db, settings, None)
    knowledge_set.load(db, settings, embedder)
    assert knowledge_set.recall_at(db, settings, embedder, 5) >= RECALL_FLOOR
    chinese = [(q, t) for q, t in knowledge_set.QUESTIONS if not q.isascii()]
    assert len(chinese) >= 10 and knowledge_set.recall_at(db, settings, embedder, 5, questions=chinese) >= RECALL_FLOOR
    for question, title in knowledge_set.QUESTIONS:
        found = retrieve(db, settings, ["shop"], question)
        assert found[0].relevant and found[0].title == title, (question, found[0].title, found[0].score)
    for question in knowledge_set.UNRELATED:
        assert not any(f.relevant for f in retrieve(db, settings, ["shop"], question)), question


def test_spaces_are_kept_apart_and_a_missing_space_finds_nothing(db):
    settings = KnowledgeSettings()
    embedder = _embedder(db, settings, None)
    knowledge_set.load(db, settings, embedder, space="shop")
    assert retrieve(db, settings, ["manuals"], "How long should I steep black tea?") == []
    assert retrieve(db, settings, [], "How long should I steep black tea?") == []
    assert retrieve(db, settings, ["shop"], "") == []
    assert retrieve(db, settings, ["shop"], "\"' OR 1=1 -- ) | & ! NEAR(*") == []


def test_embeddings_find_paraphrases_full_text_search_misses(db, embeddings):
    plain = KnowledgeSettings()
    with_vectors = KnowledgeSettings(embeddings_provider="embed", embeddings_model="fake-embed")
    embedder = _embedder(db, with_vectors, embeddings)
    knowledge_set.load(db, with_vectors, embedder)
    assert any(r["path"] == "/v1/embeddings" for r in embeddings.requests)
    paraphrases = knowledge_set.PARAPHRASES
    alone = knowledge_set.recall_at(db, plain, None, 5, questions=paraphrases)
    fused = knowledge_set.recall_at(db, with_vectors, embedder, 5, questions=paraphrases)
    assert alone <= 0.4 and fused >= 0.8, (alone, fused)
    assert knowledge_set.recall_at(db, with_vectors, embedder, 5) >= RECALL_FLOOR
    embeddings.down = True          # the provider fails: full-text search goes on alone
    assert knowledge_set.recall_at(db, with_vectors, embedder, 5) >= RECALL_FLOOR
