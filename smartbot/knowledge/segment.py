"""How a run of Chinese, Japanese or Korean text (written without spaces) becomes search terms.

Two segmenters, the same for documents and questions:
- "jieba" (the optional extra, `pip install 'smartbot[jieba]'`): Chinese is cut into dictionary
  words, in search mode (a long word also yields the words inside it: 营业时间 -> 营业 时间
  营业时间), so the index holds words and no pairs straddling two words (业时);
- "bigrams": overlapping character pairs (营业时间 -> 营业 业时 时间); needs no dictionary and finds
  Chinese answers well, at the price of an index about twice as large.
Kana and hangul always go by bigrams: jieba's dictionary is Chinese.

[knowledge] chinese_segmenter picks one ("auto": jieba when it is installed). An index remembers
the segmenter that built it (jobs.py), as questions must be cut the way the documents were.
"""
from __future__ import annotations

import importlib.util
import logging
import re
import threading
from typing import Any

from ..errors import ConfigError

CHOICES = ("auto", "jieba", "bigrams")
_HAN_ONLY = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]+")

_lock = threading.Lock()
_tokenizer: Any = None
_name = ""


def jieba_installed() -> bool:
    return importlib.util.find_spec("jieba") is not None


def configure(choice: str) -> str:
    """Use the segmenter `choice` names from now on in this process; returns the one in use."""
    global _name
    if choice not in CHOICES:
        raise ConfigError("knowledge.chinese_segmenter", f"must be one of {', '.join(CHOICES)}", "auto")
    use_jieba = choice == "jieba" or (choice == "auto" and jieba_installed())
    if choice == "jieba" and not jieba_installed():
        raise ConfigError("knowledge.chinese_segmenter", "\"jieba\" needs the jieba package installed",
                          "pip install 'smartbot[jieba]' (or set it to \"bigrams\")")
    with _lock:
        _name = "jieba" if use_jieba else "bigrams"
    return _name


def _jieba() -> Any:
    """jieba's tokenizer, imported at the first Chinese it cuts, not at start: its import alone
    (the word-probability tables) would sit in every process that never reads Chinese."""
    global _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)          # it announces its dictionary at every start
            _tokenizer = jieba.Tokenizer()
        return _tokenizer


def name() -> str:
    """The segmenter in use ("jieba" or "bigrams"), chosen at first use when nobody configured one."""
    return _name or configure("auto")


def cut(run: str) -> list[str]:
    """The terms of one run of CJK characters (no spaces, no punctuation in it)."""
    if len(run) == 1:
        return [run]
    if name() == "jieba" and _HAN_ONLY.fullmatch(run):
        return [word for word in _jieba().cut_for_search(run, HMM=True) if word.strip()]
    return [run[i:i + 2] for i in range(len(run) - 1)]
