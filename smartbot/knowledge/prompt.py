"""What the model is shown for a question with knowledge: the relevant chunks as numbered sources
(one number per document), at most `max_context_chars` of them, and the instruction to answer from
them and cite them as [n]; and what the reply ends with: the sources' titles, linked when the
document has a URL, in markdown (each channel turns it into its platform's markup)."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..i18n import t
from .retrieval import Found

_CITED = re.compile(r"\[(\d{1,2})\]")
_MARKDOWN_TEXT = re.compile(r"([\\\[\]()*_`])")


@dataclass
class Sources:
    """The numbered documents put before the model, and the prompt text carrying them."""

    documents: list[Found] = field(default_factory=list)    # index + 1 is the source's number
    text: str = ""


def numbered_sources(found: list[Found], max_chars: int) -> Sources:
    numbers: dict[int, int] = {}
    sources = Sources()
    parts, used = [], 0
    for item in found:
        room = max_chars - used
        if room < 80:
            break
        body = item.text if len(item.text) <= room else item.text[:room].rsplit(" ", 1)[0] + " ..."
        if item.document_id not in numbers:
            sources.documents.append(item)
            numbers[item.document_id] = len(sources.documents)
        parts.append(f"[{numbers[item.document_id]}] {item.title}\n{body}")
        used += len(body)
    sources.text = "\n\n".join(parts)
    return sources


def system_prompt(base: str, sources: Sources, locale: str) -> str:
    return f"{base}\n\n{t('knowledge.instructions', locale)}\n\n{sources.text}"


def with_sources(answer: str, sources: Sources, locale: str) -> str:
    """The answer followed by the titles of the sources it cites (all of them when it cites none)."""
    cited = sorted({int(n) for n in _CITED.findall(answer) if 0 < int(n) <= len(sources.documents)})
    numbers = cited or list(range(1, len(sources.documents) + 1))
    if not numbers:
        return answer
    lines = [f"[{n}] {_link(sources.documents[n - 1])}" for n in numbers]
    return f"{answer}\n\n{t('knowledge.sources', locale)}\n" + "\n".join(lines)


def _link(item: Found) -> str:
    title = _MARKDOWN_TEXT.sub(r"\\\1", item.title)
    if not item.url:
        return title
    return f"[{title}]({item.url.replace('(', '%28').replace(')', '%29').replace(' ', '%20')})"
