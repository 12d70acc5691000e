"""The [knowledge] settings: where documents may be fetched from (nowhere by default), the size
caps, how much of them goes into a prompt, and the optional embeddings provider."""
from __future__ import annotations

import importlib.util
from dataclasses import dataclass

from ..errors import ConfigError
from ..executor.settings import check_hosts
from ..settings.schema import setting


@dataclass
class KnowledgeSettings:
    fetch_allow: list[str] = setting([], help="hosts (or host:port) a document URL may be fetched from; empty "
                                              "denies all")
    max_document_bytes: int = setting(20_000_000, minimum=1024, help="the largest upload or fetched document")
    max_text_chars: int = setting(5_000_000, minimum=1000, help="the most text one document may hold once "
                                                                "extracted")
    fetch_timeout: float = setting(20.0, minimum=1, help="seconds a document URL fetch may take")
    chunk_chars: int = setting(1200, minimum=200, help="the longest chunk, in characters")
    chunk_overlap: int = setting(150, minimum=0, help="characters a chunk repeats from the one before")
    top_k: int = setting(5, minimum=1, help="chunks put before the model for one question")
    max_context_chars: int = setting(6000, minimum=500, help="the most characters of chunks in one prompt")
    answer_without_sources: bool = setting(False, help="when nothing relevant is found, let the model answer "
                                                       "anyway instead of saying it does not know")
    embeddings_provider: str = setting("", help="a provider (kind openai) whose /embeddings embeds chunks; empty: "
                                                "full-text search only")
    embeddings_model: str = setting("", help="the embeddings model; empty: the provider's model")
    vector_scan_limit: int = setting(5000, minimum=100, help="the most chunks compared by embedding per question")
    chinese_segmenter: str = setting("auto", choices=("auto", "jieba", "bigrams"),
                                     help="how Chinese text is cut into search terms: jieba's words (the "
                                          "smartbot[jieba] extra), character bigrams, or auto (jieba when installed)")

    def validate(self, path: str) -> None:
        check_hosts(self.fetch_allow, f"{path}.fetch_allow", "docs.example.com")
        if self.chinese_segmenter == "jieba" and importlib.util.find_spec("jieba") is None:
            raise ConfigError(f"{path}.chinese_segmenter", "\"jieba\" needs the jieba package installed",
                              "pip install 'smartbot[jieba]' (or set it to \"auto\")")
        if self.chunk_overlap >= self.chunk_chars // 2:
            raise ConfigError(f"{path}.chunk_overlap", "is half a chunk or more",
                              f"keep it below {self.chunk_chars // 2}")
