"""Refusals that can be said in every language, while the API keeps its English words.

A service (manage/, auth/) refuses with `reason("reason.user.exists", name=...)`: a `Reason` is the
English text itself (a `str`, so the API's `error` / `reason` strings and the audit rows read
exactly as they always did), and it remembers its catalogue key and values, so the admin page can
say it again in the page's language with `say(text, locale)`.

Values may be Reasons themselves (a noun, what the caller tried to do) and are said in the same
language; a list or tuple of values is said item by item, joined with "; ". Text that is not a
Reason (a reason from a layer that has no catalogue entry) is shown as it is.
"""
from __future__ import annotations

from typing import Any

from . import FALLBACK, Said, t


class Reason(Said):
    """English text that knows its catalogue key and the values that fill it in."""

    key: str
    params: dict[str, Any]

    def __new__(cls, key: str, **params: Any) -> "Reason":
        self = super().__new__(cls, _fill(key, FALLBACK, params))
        self.key = key
        self.params = params
        return self

    def said(self, locale: str) -> str:
        return _fill(self.key, locale, self.params)

    def __reduce__(self) -> tuple:
        return _rebuild, (self.key, self.params)


def _rebuild(key: str, params: dict[str, Any]) -> Reason:
    return Reason(key, **params)


def reason(key: str, **params: Any) -> Reason:
    return Reason(key, **params)


def say(text: Any, locale: str) -> str:
    """`text` in `locale` when it is a Reason; anything else as it is."""
    if isinstance(text, Reason):
        return _fill(text.key, locale, text.params)
    if isinstance(text, (list, tuple)):
        return "; ".join(say(item, locale) for item in text)
    return str(text)


def _fill(key: str, locale: str, params: dict[str, Any]) -> str:
    return t(key, locale, **{name: say(value, locale) for name, value in params.items()})
