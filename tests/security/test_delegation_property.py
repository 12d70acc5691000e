"""Property: delegation cannot be widened. For random roles (patterns with wildcards and chat
scopes), random users, a random caller and random requests to the service layer (create or change
a role, set a user's roles, change or delete a user, bind or forget an identity, create a user),
no one ends up holding a permission that neither they, nor the caller, nor a stranger (the default
role, which anyone gets by writing from an unknown account) held before; a user, role or identity
is changed only by a caller who holds every right it held; and the last active full admin stays.

"Holding" is decided on a universe of concrete permissions in concrete chats by the one runtime
check (rbac.check), not by the delegation code under test. Pattern containment itself is checked
exhaustively on small patterns against the runtime matcher (the last test).
"""
from __future__ import annotations

import itertools
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from smartbot.auth import delegation, rbac
from smartbot.auth import identities as resolver
from smartbot.auth.permissions import ADMIN_AREAS
from smartbot.auth.rbac import Grant, Principal
from smartbot.errors import PermissionDenied
from smartbot.manage import identities, roles, users
from smartbot.manage.errors import ManageError
from smartbot.storage.tables import Identity, Role, User, UserRole

DEFAULT_ROLE = "guest"
PATTERNS = ["*", "chat", "command:*", "command:run:*", "command:run:x", "command:run:y", "*:run:x", "*:run:*",
            "workflow:*", "workflow:run:*", "workflow:run:y", "approval:decide", "admin:*", "admin:login",
            "admin:users", "admin:roles", "admin:workflows", "admin:commands", "*:*", "*:*:*", "admin:*:*"]
CHATS = ["generic:a", "generic:b", ""]
WHERE = ["", "generic:a", "generic:b", "generic:c"]
# Concrete permissions: some many patterns grant, some only `*` (or `*:*`, `admin:*`) does.
UNIVERSE = ["chat", "command:run:x", "command:run:y", "command:run:zz", "workflow:run:x", "workflow:run:y",
            "workflow:run:zz", "approval:decide", "admin:login", *[f"admin:{a}" for a in ADMIN_AREAS], "admin:elsewhere"]
ROLE_NAMES = ["r0", "r1", "r2", "r3"]
TEMPLATES = ["admin", "operator", "user", "guest"]
USER_NAMES = ["root", "caller", "u0", "u1", "u2"]
IDENTITIES = ["i0", "i1", "i2", "i3"]

_users, _roles, _user_roles, _ident = User.__table__, Role.__table__, UserRole.__table__, Identity.__table__

scopes = st.one_of(st.none(), st.lists(st.sampled_from(CHATS), min_size=1, max_size=2, unique=True))
patterns = st.lists(st.sampled_from(PATTERNS), max_size=3, unique=True)
role_sets = st.lists(st.sampled_from(ROLE_NAMES + TEMPLATES), max_size=2, unique=True)


def requests_for(role_names: list[str], mine: list[str], people: list[str]) -> st.SearchStrategy:
    """One request, drawn from what exists now; the caller's own roles are picked more often
    (changing them is the shortest way to widen oneself)."""
    role = st.one_of(st.sampled_from(mine), st.sampled_from(role_names)) if mine else st.sampled_from(role_names)
    user = st.sampled_from(people + ["new-u"])
    granted = st.lists(st.one_of(role, st.sampled_from(role_names)), max_size=2, unique=True)
    return st.one_of(
        st.tuples(st.just("create_role"), st.sampled_from(["new-a", "new-b"]), patterns, scopes),
        st.tuples(st.just("update_role"), role, st.one_of(st.none(), patterns), st.one_of(st.just("keep"), scopes)),
        st.tuples(st.just("update_role"), role, st.none(), scopes),             # only where it applies
        st.tuples(st.just("delete_role"), role),
        st.tuples(st.just("set_roles"), user, granted),
        st.tuples(st.just("set_active"), user, st.booleans()),
        st.tuples(st.just("delete_user"), user),
        st.tuples(st.just("bind"), st.sampled_from(IDENTITIES), st.one_of(st.none(), user)),
        st.tuples(st.just("forget_identity"), st.sampled_from(IDENTITIES)),
        st.tuples(st.just("create_user"), st.sampled_from(["new-u", "new-v"]), granted),
    )


@dataclass
class World:
    roles: list[tuple[str, list[str], list[str] | None]]
    users: dict[str, tuple[list[str], bool]]           # name -> (roles, active)
    bound: dict[str, str | None]                       # identity -> user name


worlds = st.builds(
    World,
    roles=st.tuples(*[st.tuples(st.just(name), patterns, scopes) for name in ROLE_NAMES]).map(list),
    users=st.fixed_dictionaries({
        "caller": st.tuples(st.lists(st.sampled_from(ROLE_NAMES + TEMPLATES), min_size=1, max_size=4, unique=True),
                            st.just(True)),
        **{name: st.tuples(role_sets, st.booleans()) for name in USER_NAMES[2:]}}),
    bound=st.fixed_dictionaries({i: st.one_of(st.none(), st.sampled_from(USER_NAMES)) for i in IDENTITIES}),
)


def _reset(db: Any, templates: list[Any], world: World) -> None:
    now = time.time()
    with db.write() as conn:
        for table in (_ident, _user_roles, _users):
            conn.execute(sa.delete(table))
        conn.execute(sa.delete(_roles))              # the templates too: a request may have deleted one
        conn.execute(sa.insert(_roles), [dict(row._mapping) for row in templates])
        for name, perms, scope in world.roles:
            conn.execute(sa.insert(_roles).values(name=name, description="", permissions=perms, chat_scope=scope,
                                                  is_template=False, source="db", created_at=now, updated_at=now))
        role_ids = dict(conn.execute(sa.select(_roles.c.name, _roles.c.id)).all())
        people = {"root": (["admin"], True), **world.users}
        for name, (names, active) in people.items():
            uid = conn.execute(sa.insert(_users).values(
                name=name, display_name=name, password_hash="not-a-real-hash" if name in ("root", "u0") else None,
                is_active=active, locale="", created_at=now, updated_at=now).returning(_users.c.id)).scalar_one()
            for role in names:
                if role in role_ids:
                    conn.execute(sa.insert(_user_roles).values(user_id=uid, role_id=role_ids[role]))
        user_ids = dict(conn.execute(sa.select(_users.c.name, _users.c.id)).all())
        for identity, owner in world.bound.items():
            conn.execute(sa.insert(_ident).values(channel="generic", platform_user_id=identity, display_name="",
                                                  user_id=user_ids.get(owner), created_at=now))


def _holds(principal: Principal | None) -> frozenset[tuple[str, str]]:
    if principal is None:
        return frozenset()
    key = frozenset((g.pattern, g.chat_scope) for g in principal.grants)
    if key not in _held:
        _held[key] = frozenset((p, w) for p in UNIVERSE for w in WHERE if rbac.check(principal, p, w).allowed)
    return _held[key]


_held: dict[frozenset, frozenset[tuple[str, str]]] = {}      # the same grants hold the same, whoever has them


def _shown(holds: frozenset[tuple[str, str]]) -> str:
    shown = ", ".join(f"{p} in {w or 'the admin API'}" for p, w in sorted(holds)[:6])
    return shown + (" ..." if len(holds) > 6 else "")


def _user_ids(conn: Any) -> dict[str, int]:
    return dict(conn.execute(sa.select(_users.c.name, _users.c.id)).all())


def _snapshot(db: Any) -> dict[str, Any]:
    """Everyone's holdings: each user (nothing when inactive), each identity as a sender, a stranger;
    and each user's and role's rights whatever their state (what a change to them touches)."""
    with db.read() as conn:
        rows = conn.execute(sa.select(_users.c.id, _users.c.name, _users.c.is_active, _users.c.password_hash)).all()
        of_user = {r.name: _holds(resolver.principal_for_user(conn, r.id, r.name)) for r in rows}
        subjects = {f"user:{r.name}": of_user[r.name] if r.is_active else frozenset() for r in rows}
        for identity in IDENTITIES + ["stranger"]:
            subjects[f"identity:{identity}"] = _holds(resolver.resolve(conn, "generic", identity, "", DEFAULT_ROLE))
        of_role = {r.name: _holds(Principal(r.name, (r.name,), tuple(
                       Grant(p, r.name, tuple(r.chat_scope) if r.chat_scope is not None else None)
                       for p in r.permissions or ())))
                   for r in conn.execute(sa.select(_roles)).all()}
        bound = {r.platform_user_id: r.user_id for r in conn.execute(sa.select(_ident)).all()}
        names = {r.id: r.name for r in rows}
        full_admins = sum(1 for r in rows if r.is_active and r.password_hash and any(
            g.pattern == "*" and g.chat_scope is None
            for g in resolver.principal_for_user(conn, r.id, r.name).grants))
    return {"subjects": subjects, "user": of_user, "role": of_role, "full_admins": full_admins,
            "bound": {i: names.get(u) for i, u in bound.items()}}


def _caller(db: Any) -> Principal:
    with db.read() as conn:
        uid = _user_ids(conn).get("caller")
        return resolver.principal_for_user(conn, uid, "caller") if uid else Principal("caller", (), ())


def _apply(db: Any, caller: Principal, request: tuple) -> None:
    kind, *args = request
    with db.read() as conn:
        ids = _user_ids(conn)
        idents = {r.platform_user_id: r.id for r in conn.execute(sa.select(_ident.c.platform_user_id, _ident.c.id))}
    if kind == "create_role":
        name, perms, scope = args
        roles.create_role(db, caller, {"name": name, "permissions": perms, "chat_scope": scope})
    elif kind == "update_role":
        name, perms, scope = args
        data: dict[str, Any] = {} if perms is None else {"permissions": perms}
        if scope != "keep":
            data["chat_scope"] = scope
        roles.update_role(db, caller, name, data)
    elif kind == "delete_role":
        roles.delete_role(db, caller, args[0], DEFAULT_ROLE)
    elif kind in ("set_roles", "set_active", "delete_user"):
        if args[0] not in ids:
            return
        if kind == "delete_user":
            users.delete_user(db, caller, ids[args[0]])
        else:
            users.update_user(db, caller, ids[args[0]],
                              {"roles": args[1]} if kind == "set_roles" else {"is_active": args[1]})
    elif kind == "bind":
        identity, owner = args
        identities.bind(db, caller, "generic", identity, ids.get(owner) if owner else None)
    elif kind == "forget_identity":
        if args[0] in idents:
            identities.delete(db, caller, idents[args[0]])
    elif kind == "create_user":
        users.create_user(db, caller, {"name": args[0], "roles": args[1]})


def _touched(request: tuple, before: dict[str, Any]) -> list[frozenset]:
    """The rights held by what a successful request changed (the caller must have held them all)."""
    kind, *args = request
    if kind in ("update_role", "delete_role"):
        return [before["role"].get(args[0], frozenset())]
    if kind in ("set_roles", "set_active", "delete_user"):
        return [before["user"].get(args[0], frozenset())]
    if kind in ("bind", "forget_identity"):
        owners = [before["bound"].get(args[0])] + ([args[1]] if kind == "bind" and args[1] else [])
        return [before["user"].get(o, frozenset()) for o in owners if o]
    return []


@given(world=worlds, data=st.data())
@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
def test_no_request_widens_anyones_rights_beyond_the_callers(db, world, data):
    templates = _templates(db)
    _reset(db, templates, world)
    for _ in range(data.draw(st.integers(1, 4), label="requests")):
        before = _snapshot(db)
        caller = _caller(db)
        request = data.draw(requests_for(sorted(before["role"]), list(caller.roles), sorted(before["user"])),
                            label="request")
        mine = before["subjects"].get("user:caller", frozenset())
        allowed = mine | before["subjects"]["identity:stranger"]
        try:
            _apply(db, caller, request)
        except (ManageError, PermissionDenied) as exc:
            event(f"{request[0]} refused: {type(exc).__name__}")
            after = _snapshot(db)
            assert after["subjects"] == before["subjects"], request      # a refusal changes nothing
            continue
        event(f"{request[0]} done")
        after = _snapshot(db)
        for subject, holds in after["subjects"].items():
            gained = holds - before["subjects"].get(subject, frozenset()) - allowed
            assert not gained, f"{request}: {subject} gained {_shown(gained)}, which the caller did not hold"
        for rights in _touched(request, before):
            assert rights <= mine, f"{request} changed something holding {_shown(rights - mine)}"
        assert after["full_admins"] or not before["full_admins"], f"{request} locked out the last full admin"


def test_containment_agrees_with_the_runtime_check_on_every_small_pattern():
    """contains(have, want) exactly when every permission `want` matches, `have` matches too (by
    rbac.pattern_matches), over every pattern of up to three parts and every name of up to four."""
    parts = ["a", "b", "*"]
    shapes = ["*"] + [":".join(p) for n in (1, 2, 3) for p in itertools.product(parts, repeat=n)]
    names = [":".join(p) for n in (1, 2, 3, 4) for p in itertools.product(["a", "b", "c"], repeat=n)]
    matched = {p: {n for n in names if rbac.pattern_matches(p, n)} for p in shapes}
    wrong = [(have, want) for have in shapes for want in shapes
             if delegation.contains(have, want) != (matched[want] <= matched[have])]
    assert wrong == []


_template_rows: dict[str, list[Any]] = {}


def _templates(db: Any) -> list[Any]:
    """The template roles as migrated (read once per database, restored before each example)."""
    key = str(db.engine.url)
    if key not in _template_rows:
        with db.read() as conn:
            _template_rows[key] = conn.execute(sa.select(_roles).where(_roles.c.name.in_(TEMPLATES))).all()
    return _template_rows[key]
