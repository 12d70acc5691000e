"""Who is who on the admin pages: one name per person, whatever a row calls them.

An audit row names its actor as audit/actors.py says (older rows in older ways: `user:<name>`, a
bare login name); a message names its sender by channel and platform user id. The pages show a
user's name wherever there is a user behind the row (an identity bound to them, `admin:<name>`,
`user:<name>`, a bare name that is a user's, the terminal chat's `cli:<name>`), the platform's name
for a sender bound to nobody, and SmartBot's own actors by a label the page translates. The stored
form goes along as `detail` for the tooltip, and the identity of a chat sender as `identity`.

Every lookup is one bounded query per batch of rows, never one per row.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..audit import actors
from ..i18n import t
from ..storage.tables import Identity, User

_ident, _users = Identity.__table__, User.__table__
BATCH = 200                 # pairs per IN (...) list
MAX_FORMS = 200             # identities of one user a filter looks for
# SmartBot's own actors, by the label the page shows for them.
MACHINE_LABELS = {actors.SYSTEM: "admin.who.system", actors.COMMAND_LINE: "admin.who.cli",
                  "anonymous": "admin.who.anonymous", "unknown": "admin.who.unknown"}
SCHEDULE_PREFIX = "schedule:"
TERMINAL_CHANNEL = "cli"    # `smartbot chat --user <name>`: the platform user id is the user name


@dataclass(frozen=True)
class Who:
    name: str = ""          # a person's name: a user's, or the platform's for an unbound sender
    label: str = ""         # otherwise an i18n key naming one of SmartBot's own actors
    number: str = ""        # the schedule's number, for its label
    detail: str = ""        # the row's own words for them (the stored actor)
    identity: str = ""      # the chat identity (channel:platform user id) when it was one
    user: bool = False      # `name` is a SmartBot user's


def display(who: Who, locale: str) -> str:
    """The name as the page shows it, in `locale` for SmartBot's own actors."""
    return t(who.label, locale, number=who.number) if who.label else who.name


def senders(conn: Connection, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Who]:
    """Chat senders by (channel, platform user id): the user each is bound to, else the name the
    platform gave (as remembered with the identity), else the platform user id."""
    wanted = set(pairs)
    found = _known_senders(conn, wanted)
    for channel, platform_user_id in wanted - set(found):
        identity = f"{channel}:{platform_user_id}"
        found[(channel, platform_user_id)] = Who(name=platform_user_id, detail=identity, identity=identity)
    return found


def _known_senders(conn: Connection, pairs: set[tuple[str, str]]) -> dict[tuple[str, str], Who]:
    wanted = sorted(pairs)
    found: dict[tuple[str, str], Who] = {}
    for start in range(0, len(wanted), BATCH):
        rows = conn.execute(
            sa.select(_ident.c.channel, _ident.c.platform_user_id, _ident.c.display_name, _users.c.name)
            .select_from(_ident.outerjoin(_users, _ident.c.user_id == _users.c.id))
            .where(sa.tuple_(_ident.c.channel, _ident.c.platform_user_id).in_(wanted[start:start + BATCH]))).all()
        for r in rows:
            identity = f"{r.channel}:{r.platform_user_id}"
            found[(r.channel, r.platform_user_id)] = Who(
                name=r.name or r.display_name or r.platform_user_id, detail=identity, identity=identity,
                user=r.name is not None)
    return found


def _existing_users(conn: Connection, names: set[str]) -> set[str]:
    known: set[str] = set()
    ordered = sorted(names)
    for start in range(0, len(ordered), BATCH):
        known.update(conn.execute(sa.select(_users.c.name).where(_users.c.name.in_(ordered[start:start + BATCH])))
                     .scalars())
    return known


def _user_named(actor: str) -> str | None:
    for prefix in (actors.USER_PREFIX, actors.LEGACY_USER_PREFIX):
        if actor.startswith(prefix):
            return actor[len(prefix):]
    return None


def actors_named(conn: Connection, stored: Iterable[str]) -> dict[str, Who]:
    """Each stored actor with the name the page shows for it."""
    stored = set(stored)
    pairs = {_split(a) for a in stored if ":" in a and _user_named(a) is None}
    identities = _known_senders(conn, pairs)
    candidates = {_user_named(a) or a for a in stored}
    candidates |= {pid for channel, pid in pairs if channel == TERMINAL_CHANNEL}
    users = _existing_users(conn, {c for c in candidates if c})
    return {actor: _who(actor, identities, users) for actor in stored}


def _who(actor: str, identities: dict[tuple[str, str], Who], users: set[str]) -> Who:
    if actor in MACHINE_LABELS:
        return Who(label=MACHINE_LABELS[actor], detail=actor)
    named = _user_named(actor)
    if named is not None:
        return Who(name=named, detail=actor, user=named in users) if named else \
            Who(label="admin.who.nobody", detail=actor)
    if actor.startswith(SCHEDULE_PREFIX) and actor[len(SCHEDULE_PREFIX):].isdigit():
        return Who(label="admin.who.schedule", number=actor[len(SCHEDULE_PREFIX):], detail=actor)
    if ":" in actor:
        channel, platform_user_id = _split(actor)
        sender = identities.get((channel, platform_user_id))
        if (sender is None or not sender.user) and channel == TERMINAL_CHANNEL and platform_user_id in users:
            return Who(name=platform_user_id, detail=actor, identity=actor, user=True)
        if sender is not None:
            return sender
        return Who(name=actor, detail=actor)       # no identity we know: an address, an old form
    return Who(name=actor, detail=actor, user=actor in users)


def _split(identity: str) -> tuple[str, str]:
    channel, _, platform_user_id = identity.partition(":")
    return channel, platform_user_id


def actor_forms(conn: Connection, text: str) -> list[str]:
    """Every stored actor that stands for the person `text` names (a user name, one of its
    stored forms, or an identity bound to a user); just `text` when it names no user."""
    name = _user_named(text)
    if name is None and ":" in text:
        channel, platform_user_id = _split(text)
        name = conn.execute(sa.select(_users.c.name).select_from(_ident.join(_users, _ident.c.user_id == _users.c.id))
                            .where(_ident.c.channel == channel, _ident.c.platform_user_id == platform_user_id)).scalar()
    user_id = conn.execute(sa.select(_users.c.id).where(_users.c.name == (name or text))).scalar()
    if user_id is None:
        return [text]
    name = name or text
    bound = conn.execute(sa.select(_ident.c.channel, _ident.c.platform_user_id).where(_ident.c.user_id == user_id)
                         .order_by(_ident.c.id).limit(MAX_FORMS)).all()
    forms = [actors.of_user(name), actors.LEGACY_USER_PREFIX + name, name, f"{TERMINAL_CHANNEL}:{name}"]
    return forms + [f"{r.channel}:{r.platform_user_id}" for r in bound if f"{r.channel}:{r.platform_user_id}" not in forms]
