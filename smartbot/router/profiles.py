"""Per-chat profiles: what the bot is in one chat, group or channel (its persona, language, model
route, knowledge spaces, tools on or off, quotas), chosen for each message like a rule.

A profile's `match` holds at most `channel`, `chat_id` and `chat_type`, read by the router's own
matcher. Of the profiles that match, the most specific wins (a chat id over a channel over a chat
type), then the higher priority, then the name. A profile never widens a sender's rights: tools on
offers only the commands the sender may run, and its quotas only lower the server's.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from ..auth.rbac import Principal
from ..messages import InboundMessage
from ..storage.db import Database
from ..storage.runtime_settings import get_setting
from ..storage.tables import Profile as ProfileRow
from .engine import Router, matches

log = logging.getLogger(__name__)

PROFILES_VERSION = "profiles.version"
MATCH_KEYS = ("channel", "chat_id", "chat_type")
_WEIGHT = {"chat_id": 4, "channel": 2, "chat_type": 1}      # a chat id says more than its channel
_profiles = ProfileRow.__table__
_NOBODY = Principal("", (), ())


@dataclass(frozen=True)
class Profile:
    name: str
    match: dict[str, Any] = field(default_factory=dict)
    priority: int = 0
    system_prompt: str = ""
    locale: str = ""
    model_route: str = ""
    knowledge: tuple[str, ...] = ()
    tools: bool | None = None           # None: the rule decides
    messages_per_minute: int | None = None
    tokens_per_day: int | None = None
    compiled_regex: None = None         # the router's matcher reads it; a profile has no regex

    @property
    def specificity(self) -> int:
        return sum(_WEIGHT[key] for key in self.match if key in _WEIGHT)


def from_row(row: Any) -> Profile:
    return Profile(row.name, dict(row.match or {}), row.priority, row.system_prompt or "", row.locale or "",
                   row.model_route or "", tuple(row.knowledge or ()), row.tools, row.messages_per_minute,
                   row.tokens_per_day)


def choose(profiles: list[Profile], msg: InboundMessage) -> Profile | None:
    """The profile in force for this message's chat (None: no profile matches)."""
    found = [p for p in profiles if matches(p, msg, _NOBODY, None)]  # type: ignore[arg-type] - same match shape
    if not found:
        return None
    return min(found, key=lambda p: (-p.specificity, -p.priority, p.name))


def load_profiles(db: Database) -> tuple[int, list[Profile]]:
    with db.read() as conn:
        version = int(get_setting(conn, PROFILES_VERSION, 0) or 0)
        rows = conn.execute(sa.select(_profiles).where(_profiles.c.enabled.is_(True))).all()
    return version, [from_row(r) for r in rows]


class ProfileBook:
    """The enabled profiles, read again when their version moves (checked each second, by the
    router's own reloading), and the one in force for a message: no database read per message."""

    def __init__(self, db: Database, current_version: Any) -> None:
        self._cache = Router(lambda: load_profiles(db), current_version)

    def for_message(self, msg: InboundMessage) -> Profile | None:
        return choose(self._cache.rules(), msg)  # type: ignore[arg-type] - the cache holds profiles

    def invalidate(self) -> None:
        self._cache.invalidate()
