"""The chat page's language: `?lang=` when it names a catalogue we have (and then kept in a cookie),
else that cookie, else the browser's Accept-Language, else the configured default.

The cookie is the admin page's language cookie too (same name, whole site), so a person who picks
a language on one page finds it on the other. Messages sent from the page carry the language, so
the bot answers in it.
"""
from __future__ import annotations

from flask import Response, request

from ..i18n import available, normalize

COOKIE = "smartbot_lang"
COOKIE_DAYS = 365


def asked() -> str:
    """The catalogue `?lang=` names, or "" when it names none (an unknown value is ignored)."""
    return normalize(request.args.get("lang"), "")


def chosen(default: str) -> str:
    return asked() or normalize(request.cookies.get(COOKIE), "") or \
        normalize(request.accept_languages.best_match([*available(), "zh"]) or "", default)


def keep(response: Response) -> Response:
    """Remember a language picked with `?lang=` for the next visits."""
    picked = asked()
    if picked:
        response.set_cookie(COOKIE, picked, max_age=COOKIE_DAYS * 86400, samesite="Lax", httponly=True)
    return response
