"""Per-chat profiles at run time: which persona, language, model route, knowledge spaces, tools
and quotas a chat gets (router/profiles.py chooses the one in force).

A profile cannot widen anyone's rights: tools on offers only the commands the sender may already
run, its quotas only lower the server's, and choosing a model route (where the chats' text is
sent) needs admin:providers as well, and its knowledge spaces admin:knowledge, refused and audited
as `delegation.denied` otherwise. Every
change is audited with before/after (`profile.created` ...) and applies within a second.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from ..auth import delegation
from ..auth.rbac import Grant, Principal
from ..i18n.reasons import reason
from ..router.profiles import PROFILES_VERSION
from ..settings.sections import LOCALES
from ..storage.tables import ModelRoute, Profile
from . import changes
from .errors import Invalid
from .fields import Bool, Int, List, Obj, Str
from .named_rows import NamedRows
from .providers import NAME

_profiles, _routes = Profile.__table__, ModelRoute.__table__
ROUTE_PERMISSION = "admin:providers"
KNOWLEDGE_PERMISSION = "admin:knowledge"
MAX_LIMIT = 1_000_000_000

PROFILE_FIELDS = {
    "match": Obj(fields={"channel": Str(pattern=NAME, max_length=40), "chat_id": Str(min_length=1, max_length=200),
                         "chat_type": Str(choices=("direct", "group"))},
                 description="channel, chat_id, chat_type; all must hold; {} matches every chat. The most specific "
                             "matching profile wins (chat_id, then channel, then chat_type), then the higher priority"),
    "priority": Int(minimum=-1_000_000, maximum=1_000_000, description="among equally specific profiles, higher wins"),
    "enabled": Bool(),
    "system_prompt": Str(max_length=4000, description="the chat's persona; {bot_name} and {language} are filled in"),
    "locale": Str(choices=("", *LOCALES), description="the language replies are in; empty: as usual"),
    "model_route": Str(pattern=f"({NAME})?", max_length=100,
                       description="a model route by name (needs admin:providers too); empty: as usual"),
    "knowledge": List(item=Str(pattern=NAME, max_length=100), max_items=20, description="knowledge space names"),
    "tools": Bool(nullable=True, description="true / false; null: the rule decides. Tools offer only the commands "
                                              "the sender may run"),
    "messages_per_minute": Int(nullable=True, minimum=0, maximum=MAX_LIMIT,
                               description="per sender; only lowers the server's [quotas]"),
    "tokens_per_day": Int(nullable=True, minimum=0, maximum=MAX_LIMIT,
                          description="per sender; only lowers the server's [quotas]"),
}
CREATE_FIELDS = {"name": Str(required=True, pattern=NAME, max_length=100), **PROFILE_FIELDS}
COLUMNS = tuple(PROFILE_FIELDS)
DEFAULTS = {"match": {}, "priority": 0, "enabled": True, "system_prompt": "", "locale": "", "model_route": "",
            "knowledge": [], "tools": None, "messages_per_minute": None, "tokens_per_day": None}


def profile_config(row: Row[Any]) -> dict[str, Any]:
    return {"name": row.name, **{k: getattr(row, k) for k in COLUMNS}, "match": dict(row.match or {}),
            "knowledge": list(row.knowledge or []), "source": row.source}


PROFILES = NamedRows(_profiles, "profile", "profile", PROFILES_VERSION, profile_config)


def listing(db: Any) -> list[dict[str, Any]]:
    """Every profile, the most specific first, as they are tried."""
    weight = {"chat_id": 4, "channel": 2, "chat_type": 1}
    return sorted(PROFILES.all(db), key=lambda p: (-sum(weight.get(k, 0) for k in p["match"]), -p["priority"],
                                                   p["name"]))


def get(db: Any, name: str) -> dict[str, Any]:
    return profile_config(PROFILES.one(db, name))


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    _checked(runtime, caller, body["name"], body)
    created = PROFILES.create(runtime, caller, body["name"], {**DEFAULTS, **{k: body[k] for k in COLUMNS if k in body}})
    runtime.profiles.invalidate()
    return created


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    PROFILES.one(runtime.db, name)          # 404 before any other check
    _checked(runtime, caller, name, body)
    updated = PROFILES.update(runtime, caller, name, lambda row: {k: body[k] for k in COLUMNS if k in body})
    runtime.profiles.invalidate()
    return updated


def delete(runtime: Any, caller: Principal, name: str) -> None:
    PROFILES.delete(runtime, caller, name)
    runtime.profiles.invalidate()


def _checked(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> None:
    if body.get("knowledge"):       # which documents its chats are answered from: the knowledge admins' call
        with changes.delegated(runtime.db, caller) as (_, now):
            delegation.require_cover(now, [Grant(KNOWLEDGE_PERMISSION, "")],
                                     reason("reason.doing.profile_knowledge", name=repr(name)), f"profile:{name}")
    route = body.get("model_route") or ""
    if not route:
        return
    with runtime.db.read() as conn:
        if conn.execute(sa.select(_routes.c.id).where(_routes.c.name == route)).first() is None:
            raise Invalid(reason("reason.named.missing", noun=reason("reason.noun.model_route"), name=repr(route)),
                          "model_route")
    with changes.delegated(runtime.db, caller) as (_, now):
        delegation.require_cover(now, [Grant(ROUTE_PERMISSION, "")], reason("reason.doing.profile_route",
                                                                            name=repr(name)), f"profile:{name}")
