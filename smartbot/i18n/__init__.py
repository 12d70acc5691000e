"""Reply and page texts in every supported language. Adding a language = adding `<locale>.json`.

`t(key, locale, **values)` falls back to English for a key a catalogue lacks, and to the key itself
only for a programming error (a test checks every catalogue has every key).
"""
from __future__ import annotations

import json
from functools import lru_cache
from pathlib import Path

_DIR = Path(__file__).resolve().parent
FALLBACK = "en"


@lru_cache(maxsize=None)
def catalogue(locale: str) -> dict[str, str]:
    path = _DIR / f"{locale}.json"
    if not path.exists():
        return {}
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


def available() -> list[str]:
    return sorted(p.stem for p in _DIR.glob("*.json"))


def normalize(locale: str | None, default: str = FALLBACK) -> str:
    """Map platform locales (zh-hans, zh_CN, en-US, ...) onto a catalogue we have."""
    if not locale:
        return default
    code = locale.replace("_", "-").lower()
    for have in available():
        if code == have.lower():
            return have
    base = code.split("-", 1)[0]
    for have in available():
        if have.lower().split("-", 1)[0] == base:
            return have
    return default


def t(key: str, locale: str = FALLBACK, **values: object) -> str:
    text = catalogue(locale).get(key) or catalogue(FALLBACK).get(key) or key
    return text.format(**values) if values else text


def language_name(locale: str) -> str:
    return t("language.name", locale)
