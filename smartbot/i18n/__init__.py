"""Reply and page texts in every supported language. Adding a language = adding `<locale>/`.

A catalogue is a directory of JSON files, one per area (`chat.json` for replies, `admin.json`,
`webchat.json`, ...), so that work on one page does not touch another page's texts. A key lives in
exactly one file of its catalogue; the files are merged when first read.

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
    merged: dict[str, str] = {}
    for path in area_files(locale):
        with open(path, encoding="utf-8") as fh:
            area = json.load(fh)
        twice = merged.keys() & area.keys()
        if twice:
            raise ValueError(f"{path}: keys already in another file of {locale}: {sorted(twice)}")
        merged.update(area)
    return merged


def area_files(locale: str) -> list[Path]:
    """The catalogue's files; none for a locale we do not have (or a name that is not one)."""
    if locale not in available():
        return []
    return sorted((_DIR / locale).glob("*.json"))


@lru_cache(maxsize=1)
def available() -> list[str]:
    return sorted(p.name for p in _DIR.iterdir() if p.is_dir() and any(p.glob("*.json")))


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


class Said(str):
    """Text that can be said again in another language (i18n.reasons.Reason is one): a value of
    this kind given to `t` is said in the language `t` writes, so a refusal inside a reply reads
    in the reply's language."""

    def said(self, locale: str) -> str:
        return str(self)


def t(key: str, locale: str = FALLBACK, **values: object) -> str:
    text = catalogue(locale).get(key) or catalogue(FALLBACK).get(key) or key
    if not values:
        return text
    return text.format(**{name: value.said(locale) if isinstance(value, Said) else value
                          for name, value in values.items()})


def language_name(locale: str) -> str:
    return t("language.name", locale)
