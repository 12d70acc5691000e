"""Optional embeddings: the OpenAI-compatible `/embeddings` of the provider `[knowledge]
embeddings_provider` names, vectors stored as float32 blobs beside their chunks, cosine similarity
in Python over a bounded candidate set, and reciprocal rank fusion with the full-text ranking.
No vector database: a space of a few thousand chunks is compared in milliseconds.
"""
from __future__ import annotations

import logging
import math
from array import array
from typing import Any, Iterable, Sequence

from ..errors import ProviderError
from .settings import KnowledgeSettings

log = logging.getLogger(__name__)

RRF_K = 60          # the usual constant: ranks far down a list still count, a little
BATCH = 64          # texts per /embeddings request
TIMEOUT = (5.0, 60.0)


class Embedder:
    """Embeds texts with the configured provider; `None` from `embed` when there is none (or it
    cannot embed), so callers fall back to full-text search alone."""

    def __init__(self, settings: KnowledgeSettings, models: Any, providers: Any) -> None:
        self.settings = settings
        self.models = models
        self.providers = providers

    @property
    def configured(self) -> bool:
        return bool(self.settings.embeddings_provider)

    def embed(self, texts: Sequence[str]) -> list[bytes] | None:
        """Each text's vector as a float32 blob; None without a provider or when it fails."""
        if not self.configured or not texts:
            return None
        spec = self.providers.spec(self.settings.embeddings_provider)
        if spec is None:
            log.warning("[knowledge] embeddings_provider %r is not a provider", self.settings.embeddings_provider)
            return None
        try:
            client = self.models.client(spec)
            if not hasattr(client, "embed"):
                log.warning("provider %s (kind %s) offers no /embeddings", spec.name, spec.kind)
                return None
            out: list[bytes] = []
            for at in range(0, len(texts), BATCH):
                vectors = client.embed(list(texts[at:at + BATCH]), self.settings.embeddings_model, TIMEOUT)
                out.extend(pack(v) for v in vectors)
            return out
        except ProviderError as exc:
            log.warning("embeddings from %s failed (%s): full-text search alone", spec.name, exc.reason)
            return None


def pack(vector: Iterable[float]) -> bytes:
    """A unit-length float32 blob: cosine similarity is then a plain dot product."""
    values = array("f", vector)
    norm = math.sqrt(sum(x * x for x in values)) or 1.0
    return array("f", (x / norm for x in values)).tobytes()


def unpack(blob: bytes) -> array:
    values = array("f")
    values.frombytes(blob)
    return values


def cosine(a: array, b: array) -> float:
    if len(a) != len(b):
        return 0.0
    return math.fsum(x * y for x, y in zip(a, b))


def fuse(*rankings: Sequence[int]) -> dict[int, float]:
    """Reciprocal rank fusion: each id's sum of 1 / (RRF_K + rank) over the rankings it is in."""
    scores: dict[int, float] = {}
    for ranking in rankings:
        for rank, item in enumerate(ranking, start=1):
            scores[item] = scores.get(item, 0.0) + 1.0 / (RRF_K + rank)
    return scores
