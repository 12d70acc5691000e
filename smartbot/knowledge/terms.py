"""Text -> search terms, the same for documents and questions and for both dialects' indexes.

Latin-script (and other spaced) text becomes lowercase words, lightly stemmed (-s, -ed, -ing) and common
function words left out; Chinese, Japanese and Korean text, written without spaces, is cut by
segment.py (jieba's dictionary words when that extra is installed, else overlapping character
bigrams: "营业时间" -> 营业 业时 时间), so a Chinese question finds a Chinese answer. Terms are plain
word characters only: they are safe to put in an FTS5 or tsquery expression as they are.
"""
from __future__ import annotations

import functools
import re
import unicodedata

from . import segment

MAX_QUERY_TERMS = 48
MAX_QUERY_CHARS = 4000      # of a question (or a turn) cut into terms: the first 48 distinct are in there
_CJK = r"\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff"
_TOKENS = re.compile(rf"[{_CJK}]+|[^\W_{_CJK}]+")
_IS_CJK = re.compile(rf"[{_CJK}]")
_STOP = frozenset("""a an and are as at be been but by can could did do does for from had has have how i if in into
is it its me my no not of on or our shall should so than that the their them then there these they this to us
was we were what when where which who why will with would you your yours about any also just please tell
much many some""".split())
_CJK_STOP = frozenset("我们 你们 什么 是什 怎么 么样 吗 的 了 是 在 有 请问 可以 一下 哪些 如何 多少 吧 呢 啊".split())


@functools.lru_cache(maxsize=65536)
def _word(token: str) -> str:
    """A light stemmer, the same for documents and questions: returned, returns -> return. Cached:
    a language has few words, and a search reads each candidate chunk's words again."""
    if len(token) > 4 and token.endswith("ies"):
        return token[:-3] + "y"
    if len(token) > 3 and token.endswith("s") and not token.endswith("ss"):
        token = token[:-1]
    if len(token) > 5 and token.endswith("ing"):
        return token[:-3]
    if len(token) > 4 and token.endswith("ed"):
        return token[:-2]
    return token


def terms(text: str) -> list[str]:
    """Every term of `text`, in order, repeats kept (what a document is indexed with)."""
    out: list[str] = []
    for token in _TOKENS.findall(unicodedata.normalize("NFKC", text).lower()):
        if _IS_CJK.match(token):
            out.extend(segment.cut(token))
        elif token not in _STOP and len(token) < 40:
            out.append(_word(token))
    return out


def query_terms(text: str) -> list[str]:
    """The distinct terms of a question worth searching for, in order, at most MAX_QUERY_TERMS. Cut
    into words, a Chinese question's single characters are mostly particles and verbs that every
    document holds (会, 能, 要): they are searched for only when nothing else is left."""
    seen: dict[str, None] = {}
    for term in terms(text[:MAX_QUERY_CHARS]):
        if term not in _CJK_STOP:
            seen.setdefault(term, None)
    found = list(seen)
    if segment.name() == "jieba":
        words = [t for t in found if not (len(t) == 1 and _IS_CJK.match(t))]
        found = words or found
    return found[:MAX_QUERY_TERMS]


def coverage(question: list[str], text: str) -> float:
    """How much of a question `text` answers (0..1): the question's terms found in it, over the
    terms one could expect to find. About half the bigrams of a Chinese sentence straddle two words
    (们几, 购有) and are in no document, so a bigram counts half towards that expectation (words cut
    by jieba count whole). The same score on both dialects, which a space's `min_score` is compared
    with. A Chinese term counts as found where its characters stand in `text`: cutting every
    candidate chunk again for each question would cost more than the search itself."""
    if not question:
        return 0.0
    normal = unicodedata.normalize("NFKC", text).lower()
    words = {_word(token) for token in _TOKENS.findall(normal) if not _IS_CJK.match(token)}
    bigrams = 0 if segment.name() == "jieba" else \
        sum(1 for term in question if _IS_CJK.match(term) and len(term) == 2)
    expected = len(question) - bigrams + (bigrams + 1) // 2
    found = sum(1 for term in question if (term in normal if _IS_CJK.match(term) else term in words))
    return min(1.0, found / expected)
