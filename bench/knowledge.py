"""Knowledge spaces: how well and how fast retrieval works on one machine.

    python bench/knowledge.py [--documents 1000] [--queries 300] [--postgres URL] [--segmenter auto]

1. recall@5 on the labelled set (tests/support/knowledge_set.py: English and Chinese questions, and
   paraphrases sharing no word with their answer), full-text search alone and fused with a fake
   embeddings endpoint (tests/support/fake_embeddings.py), with Chinese cut into character bigrams
   and, when the jieba extra is installed, into jieba's words;
2. indexing N synthetic documents (about 5 KB each, English and Chinese) on the worker pool's
   indexer, two threads (a 2-core server);
3. search latency p50 / p99 over them (retrieve(), full-text only, as a chat turn calls it).

SQLite by default (a temporary file); --postgres runs the same on a PostgreSQL database URL.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from smartbot.assistant.provider_store import ProviderStore  # noqa: E402
from smartbot.audit import keys  # noqa: E402
from smartbot.knowledge import retrieve, segment, store  # noqa: E402
from smartbot.knowledge.embeddings import Embedder  # noqa: E402
from smartbot.knowledge.indexer import Indexer  # noqa: E402
from smartbot.knowledge.settings import KnowledgeSettings  # noqa: E402
from smartbot.knowledge.terms import terms  # noqa: E402
from smartbot.llm.service import ModelService  # noqa: E402
from smartbot.settings import provisioning  # noqa: E402
from smartbot.settings.loading import load  # noqa: E402
from smartbot.storage.db import Database  # noqa: E402
from tests.support import knowledge_set  # noqa: E402
from tests.support.fake_embeddings import FakeEmbeddings  # noqa: E402

WORDS = ("kettle tea green black oolong delivery parcel refund invoice warranty voucher loyalty tasting storage "
         "brewing temperature leaves caffeine allergen wholesale cafe price order account password gift card "
         "shipping return policy opening hours weekend holiday manual button descaling limescale filter lid "
         "handle cable plug base light timer warm boil steep cup pot strainer sample blend flavour aroma").split()
HANZI = "茶叶绿红乌龙普洱快递包裹退款发票保修会员积分礼品卡批发价格订单账户密码运费营业时间周末节假日说明书按钮除垢滤网壶盖把手电源底座指示灯保温沸水冲泡杯壶香气口感"


def _document(rng: random.Random, number: int) -> tuple[str, str]:
    sections = []
    for s in range(6):
        if rng.random() < 0.3:
            body = "".join(rng.choice(HANZI) for _ in range(260)) + "。"
        else:
            body = " ".join(rng.choice(WORDS) for _ in range(130)) + "."
        sections.append(f"## Section {s} of document {number}\n\n{body}")
    return f"Document {number:05d}", "\n\n".join(sections)


def _db(postgres: str) -> Database:
    url = postgres or f"sqlite:///{tempfile.mkdtemp(prefix='smartbot-bench-')}/knowledge.db"
    db = Database(url)
    db.upgrade()
    return db


def recall(postgres: str, segmenter: str) -> None:
    segment.configure(segmenter)
    server = FakeEmbeddings().start()
    try:
        db = _db(postgres)
        provisioning.provision(db, load({"database_url": "sqlite://", "providers": [
            {"name": "embed", "kind": "openai", "base_url": server.base_url, "model": "fake-embed"}]},
            env={"SMARTBOT_SECRET_KEY": "x" * 40}))
        plain = KnowledgeSettings(chinese_segmenter=segmenter)
        fused = KnowledgeSettings(embeddings_provider="embed", chinese_segmenter=segmenter)
        embedder = Embedder(fused, ModelService({}), ProviderStore(db))
        space = f"shop-{segmenter}"              # one database for both segmenters (--postgres)
        knowledge_set.load(db, fused, embedder, space=space)
        every = knowledge_set.QUESTIONS + knowledge_set.PARAPHRASES
        chinese = [pair for pair in every if not pair[0].isascii()]
        words = [t for _, text in knowledge_set.DOCUMENTS if not text.isascii() for t in terms(text) if not t.isascii()]
        print(f"Chinese segmenter: {segmenter} (the Chinese documents give {len(words)} Chinese terms to the index, "
              f"{len(set(words))} distinct)")
        for label, questions in (("labelled questions", knowledge_set.QUESTIONS),
                                 ("paraphrases", knowledge_set.PARAPHRASES), ("Chinese ones", chinese),
                                 ("all", every)):
            alone = [knowledge_set.recall_at(db, plain, None, k, space, questions) for k in (5, 1)]
            both = [knowledge_set.recall_at(db, fused, embedder, k, space, questions) for k in (5, 1)]
            print(f"recall@5 (@1) {label:20} ({len(questions):2}): full-text {alone[0]:.2f} ({alone[1]:.2f})   "
                  f"with embeddings (RRF) {both[0]:.2f} ({both[1]:.2f})")
        db.dispose()
    finally:
        server.stop()


def indexing_and_search(postgres: str, documents: int, queries: int, segmenter: str) -> None:
    print(f"indexing and search, Chinese segmenter: {segment.configure(segmenter)}")
    rng = random.Random(28)
    db = _db(postgres)
    settings = KnowledgeSettings(chinese_segmenter=segmenter)
    embedder = Embedder(settings, None, None)
    texts = [_document(rng, n) for n in range(documents)]
    size = sum(len(t.encode()) for _, t in texts)
    with db.write() as conn:
        store.add_space(conn, "bench", "", 0.25)
        space_id = store.get_space(conn, "bench").id
        ids = [store.put_document(conn, space_id, {"title": title, "url": "", "kind": "md", "size": len(text),
                                                   "text": text, "content": None, "added_by": "bench"})
               for title, text in texts]
    indexers = [Indexer(db, settings, embedder, f"bench-{i}", 60.0) for i in range(2)]
    started, cpu = time.perf_counter(), time.process_time()
    with concurrent.futures.ThreadPoolExecutor(2) as pool:
        list(pool.map(lambda pair: indexers[pair[0] % 2].index(pair[1]), enumerate(ids)))
    took, cpu = time.perf_counter() - started, time.process_time() - cpu
    with db.read() as conn:
        chunks = conn.exec_driver_sql("SELECT COUNT(*) FROM knowledge_chunks").scalar()
    print(f"indexing {documents} documents ({size / 1e6:.1f} MB, {chunks} chunks), 2 threads: {took:.1f} s "
          f"({documents / took:.0f} documents/s; {cpu:.1f} s of CPU in this process)")
    latencies, cpu = [], time.process_time()
    for _ in range(queries):
        if rng.random() < 0.3:
            question = "".join(rng.choice(HANZI) for _ in range(8)) + "？"
        else:
            question = "how do I " + " ".join(rng.choice(WORDS) for _ in range(4)) + "?"
        began = time.perf_counter()
        retrieve(db, settings, ["bench"], question)
        latencies.append((time.perf_counter() - began) * 1000)
    latencies.sort()
    p99 = latencies[min(len(latencies) - 1, int(len(latencies) * 0.99))]
    cpu = (time.process_time() - cpu) * 1000 / queries
    print(f"search over them ({queries} questions): p50 {statistics.median(latencies):.1f} ms, p99 {p99:.1f} ms "
          f"({cpu:.1f} ms of CPU each)")
    print(f"load average while it ran: {' '.join(f'{x:.1f}' for x in os.getloadavg())}")
    db.dispose()


def main() -> None:
    keys.install(keys.load("bench-" + "x" * 40, ""))     # provisioning writes audit rows
    parser = argparse.ArgumentParser()
    parser.add_argument("--documents", type=int, default=1000)
    parser.add_argument("--queries", type=int, default=300)
    parser.add_argument("--postgres", default="", help="a PostgreSQL URL (an empty database or schema)")
    parser.add_argument("--segmenter", default="auto", choices=segment.CHOICES,
                        help="the Chinese segmenter of the indexing and search part")
    args = parser.parse_args()
    print(f"database: {'postgresql' if args.postgres else 'sqlite'}")
    for segmenter in ("bigrams", "jieba") if segment.jieba_installed() else ("bigrams",):
        recall(args.postgres, segmenter)
    indexing_and_search(args.postgres, args.documents, args.queries, args.segmenter)


if __name__ == "__main__":
    main()
