"""A document's text -> chunks along its headings and paragraphs, each at most `size` characters,
each starting with a little of the one before (`overlap`), so an answer that straddles a boundary
is still found whole in one of them. A chunk remembers the heading it falls under."""
from __future__ import annotations

import re
from dataclasses import dataclass

_HEADING = re.compile(r"^(#{1,6}\s+\S.*|[^\n]{1,80}\n[=-]{3,})$", re.M)
_PARAGRAPHS = re.compile(r"\n\s*\n")
_SENTENCE_END = re.compile(r"(?<=[.!?。！？；;])\s*")


@dataclass(frozen=True)
class Chunk:
    heading: str
    text: str


def chunk(text: str, size: int, overlap: int) -> list[Chunk]:
    chunks: list[Chunk] = []
    for heading, body in _sections(text):
        pieces = [p for piece in _PARAGRAPHS.split(body) for p in _fit(piece.strip(), size) if p]
        chunks.extend(Chunk(heading, t) for t in _pack(pieces, size, overlap))
    return chunks


def _sections(text: str) -> list[tuple[str, str]]:
    """(heading, body) pairs; text before the first heading has none."""
    marks = list(_HEADING.finditer(text))
    sections = [("", text[:marks[0].start()] if marks else text)]
    for i, mark in enumerate(marks):
        heading = mark.group(0).split("\n")[0].lstrip("#").strip()[:300]
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        sections.append((heading, heading + "\n" + text[mark.end():end]))
    return [(h, b) for h, b in sections if b.strip()]


def _fit(paragraph: str, size: int) -> list[str]:
    """A paragraph longer than a chunk, cut at sentence ends (or hard, for text with none)."""
    if len(paragraph) <= size:
        return [paragraph]
    out, current = [], ""
    for sentence in _SENTENCE_END.split(paragraph):
        while len(sentence) > size:
            if current:
                out.append(current)
                current = ""
            out.append(sentence[:size])
            sentence = sentence[size:]
        if len(current) + len(sentence) + 1 > size and current:
            out.append(current)
            current = ""
        current = f"{current} {sentence}".strip() if current else sentence
    if current:
        out.append(current)
    return out


def _pack(pieces: list[str], size: int, overlap: int) -> list[str]:
    """Paragraphs joined into chunks of up to `size`; each chunk after the first begins with the
    last `overlap` characters of the one before."""
    out: list[str] = []
    current = ""
    for piece in pieces:
        if current and len(current) + len(piece) + 2 > size:
            out.append(current)
            tail = current[-overlap:] if overlap else ""
            current = tail if len(tail) + len(piece) + 2 <= size else ""
        current = f"{current}\n\n{piece}" if current else piece
    if current:
        out.append(current)
    return out
