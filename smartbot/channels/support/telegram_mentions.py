"""Whom a Telegram group message addresses: a mention of this bot, a text mention of its user, a
reply to it, or a `/command@name` for it; and the text without that mention. Telegram counts entity
offsets in UTF-16 code units. Without the bot's username (not fetched yet) an answer that depends on
it raises NameNeeded, and the worker asks getMe off the request path."""
from __future__ import annotations

import re
from typing import Any

from .common import optional_object

_ADDRESSING_ENTITIES = ("mention", "text_mention", "bot_command")
_SPACES = re.compile(r"[ \t]{2,}")


class NameNeeded(Exception):
    """Deciding whom a message addresses needs this bot's username, which is not known yet."""


def addressing(text: str, entities: list[Any], replied_to_me: bool, username: str | None,
                bot_id: str) -> tuple[bool, str] | None:
    """(addressed to this bot?, text without the bot's mention); None for another bot's command.
    `username` None: not known yet; NameNeeded when the answer depends on it."""
    units = _Utf16(text)
    cuts: list[tuple[int, int, str]] = []
    mentioned = replied_to_me
    for entity in entities:
        if not isinstance(entity, dict):
            continue
        kind, offset, length = entity.get("type"), entity.get("offset"), entity.get("length")
        if not isinstance(offset, int) or not isinstance(length, int):
            continue
        piece = units.slice(offset, length)
        if kind == "mention" and _is(piece[1:], username):
            mentioned = True
            cuts.append((offset, length, ""))
        elif kind == "text_mention" and str(optional_object(entity, "user").get("id")) == bot_id:
            mentioned = True
            cuts.append((offset, length, ""))
        elif kind == "bot_command" and offset == 0 and "@" in piece:
            command, _, target = piece.partition("@")
            if not _is(target, username):
                return None
            mentioned = True
            cuts.append((offset, length, command))
    return mentioned, (_SPACES.sub(" ", units.replace(cuts)) if cuts else text).strip()


def _is(name: str, username: str | None) -> bool:
    if username is None:
        raise NameNeeded()
    return bool(username) and name.lower() == username.lower()


def addressing_entities(entities: list[Any]) -> list[dict[str, Any]]:
    """The entities `addressing` reads, as the worker needs them stored (the update itself is not)."""
    kept = []
    for entity in entities:
        if isinstance(entity, dict) and entity.get("type") in _ADDRESSING_ENTITIES:
            item = {k: entity.get(k) for k in ("type", "offset", "length")}
            if entity.get("type") == "text_mention":
                item["user"] = {"id": optional_object(entity, "user").get("id")}
            kept.append(item)
    return kept




class _Utf16:
    """Telegram's entity offsets count UTF-16 code units, not Python characters."""

    def __init__(self, text: str) -> None:
        self.data = text.encode("utf-16-le")

    def slice(self, offset: int, length: int) -> str:
        return self.data[offset * 2:(offset + length) * 2].decode("utf-16-le", "replace")

    def replace(self, cuts: list[tuple[int, int, str]]) -> str:
        data = self.data
        for offset, length, new in sorted(cuts, reverse=True):
            data = data[:offset * 2] + new.encode("utf-16-le") + data[(offset + length) * 2:]
        return data.decode("utf-16-le", "replace")


