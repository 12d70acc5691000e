"""A fake OpenAI-compatible embeddings API over real HTTP: POST /v1/embeddings answers each input
with a toy "meaning" vector. Words (and Chinese bigrams) are mapped to a concept through a small
synonym table, then hashed into DIMENSIONS counts, so "postage" lands near "shipping" while the
two share no letters: what a real embeddings model adds over full-text search, in miniature."""
from __future__ import annotations

import hashlib
import re
from typing import Any

from .fake_model import FakeModel

DIMENSIONS = 256
SYNONYMS = {
    "postage": "shipping", "delivery": "shipping", "freight": "shipping", "refund": "return",
    "money": "return", "guarantee": "warranty", "appliance": "kettle", "calcium": "limescale",
    "deposit": "limescale", "scale": "limescale", "descale": "limescale", "descaling": "limescale",
    "card": "pay", "paying": "pay", "payment": "pay", "快递": "运费", "邮费": "运费", "保障": "保修", "售后": "保修",
    "退款": "退货", "退钱": "退货",
}
_WORDS = re.compile(r"[\u4e00-\u9fff]+|[a-z0-9]+")


def features(text: str) -> list[str]:
    out = []
    for token in _WORDS.findall(text.lower()):
        if "\u4e00" <= token[0] <= "\u9fff":
            out.extend(token[i:i + 2] for i in range(max(1, len(token) - 1)))
        else:
            out.append(token[:-1] if len(token) > 3 and token.endswith("s") else token)
    return [SYNONYMS.get(f, f) for f in out]


def embed(text: str) -> list[float]:
    vector = [0.0] * DIMENSIONS
    for feature in features(text):
        vector[int(hashlib.sha1(feature.encode()).hexdigest(), 16) % DIMENSIONS] += 1.0
    return vector


class FakeEmbeddings(FakeModel):
    """POST /v1/embeddings (and the chat completions of FakeModel)."""

    embeddings_path = "/v1/embeddings"

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        if path == self.embeddings_path:
            inputs = request.get("input")
            ok = isinstance(inputs, list) and all(isinstance(i, str) for i in inputs) and request.get("model")
            return None if ok else (400, self.error_body("input must be a list of strings and model given"))
        return super().refusal(path, headers, request)

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:     # type: ignore[override]
        if "input" in request:
            return {"object": "list", "model": request["model"],
                    "data": [{"object": "embedding", "index": i, "embedding": embed(text)}
                             for i, text in enumerate(request["input"])]}
        return FakeModel.answer(request)

    def pieces_of(self, request: dict[str, Any]) -> list[str]:
        return [""] if "input" in request else super().pieces_of(request)
