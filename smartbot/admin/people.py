"""Users, identities and roles on the admin page, with the permission matrix. Roles and areas the
caller could not grant are shown greyed; the manage layer refuses them whatever the form sends."""
from __future__ import annotations

from flask import request

from ..auth import delegation
from ..auth.permissions import ADMIN_AREAS, PERMISSIONS
from ..auth.rbac import Grant, pattern_matches
from ..manage import identities, roles, users
from ..web.context import current_runtime
from .base import bp, done, page, render

# What the matrix shows per role: (label, a permission that stands for the area).
MATRIX = [("chat", "chat"), ("command:run:*", "command:run:any"), ("workflow:run:*", "workflow:run:any"),
          ("approval:decide", "approval:decide"), ("admin:login", "admin:login")] + \
         [(f"admin:{area}", f"admin:{area}") for area in ADMIN_AREAS]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _grants(role: dict) -> list[Grant]:
    scope = tuple(role["chat_scope"]) if role["chat_scope"] is not None else None
    return [Grant(p, role["name"], scope) for p in role["permissions"]]


def _cell(patterns: list[str], probe: str, label: str) -> str:
    """'yes' when the role grants the whole area, 'some' when only parts of it, '' when none."""
    if any(pattern_matches(p, probe) for p in patterns):
        return "yes"
    prefix = label.rstrip("*").rstrip(":")
    if any(p.startswith(prefix + ":") for p in patterns):
        return "some"
    return ""


@bp.get("/users")
@page("admin:users")
def users_page(principal):
    db = current_runtime().db
    all_roles = roles.list_roles(db)
    return render("admin/users.html", principal=principal, users=users.list_users(db),
                  roles=[r["name"] for r in all_roles],
                  grantable={r["name"] for r in all_roles if delegation.covers(principal, _grants(r))},
                  unbound=identities.list_identities(db, unbound=True, limit=100))


@bp.post("/users")
@page("admin:users")
def users_create(principal):
    form = request.form
    users.create_user(current_runtime().db, principal, {
        "name": form.get("name", ""), "display_name": form.get("display_name", ""),
        "password": form.get("password") or None, "roles": form.getlist("roles")})
    return done("saved", "admin.users_page")


@bp.post("/users/<int:user_id>")
@page("admin:users")
def users_update(principal, user_id: int):
    form = request.form
    data = {"roles": form.getlist("roles"), "is_active": form.get("is_active") == "on"}
    if form.get("password"):
        data["password"] = form["password"]
    users.update_user(current_runtime().db, principal, user_id, data)
    return done("saved", "admin.users_page")


@bp.post("/users/<int:user_id>/delete")
@page("admin:users")
def users_delete(principal, user_id: int):
    users.delete_user(current_runtime().db, principal, user_id)
    return done("deleted", "admin.users_page")


@bp.post("/identities")
@page("admin:users")
def identities_bind(principal):
    form = request.form
    user_id = form.get("user_id", "")
    identities.bind(current_runtime().db, principal, form.get("channel", "").strip(),
                    form.get("platform_user_id", "").strip(), int(user_id) if user_id.isdigit() else None)
    return done("saved", "admin.users_page")


@bp.get("/roles")
@page("admin:roles")
def roles_page(principal):
    all_roles = roles.list_roles(current_runtime().db)
    matrix = [(label, [_cell(r["permissions"], probe, label) for r in all_roles]) for label, probe in MATRIX]
    areas = [label for label, _ in MATRIX]
    return render("admin/roles.html", principal=principal, roles=all_roles, matrix=matrix,
                  permissions=PERMISSIONS, areas=areas,
                  holdable={a for a in areas if delegation.covers(principal, [Grant(a, "")])})


@bp.post("/roles")
@page("admin:roles")
def roles_create(principal):
    form = request.form
    roles.create_role(current_runtime().db, principal, {
        "name": form.get("name", "").strip(), "description": form.get("description", ""),
        "permissions": form.getlist("areas") + _lines(form.get("extra", ""))})
    return done("saved", "admin.roles_page")


@bp.post("/roles/<name>")
@page("admin:roles")
def roles_update(principal, name: str):
    form = request.form
    scope = _lines(form.get("chat_scope", ""))
    roles.update_role(current_runtime().db, principal, name, {
        "description": form.get("description", ""),
        "permissions": form.getlist("areas") + _lines(form.get("extra", "")),
        "chat_scope": scope or None})
    return done("saved", "admin.roles_page")


@bp.post("/roles/<name>/copy")
@page("admin:roles")
def roles_copy(principal, name: str):
    roles.copy_role(current_runtime().db, principal, name, request.form.get("new_name", "").strip())
    return done("saved", "admin.roles_page")


@bp.post("/roles/<name>/delete")
@page("admin:roles")
def roles_delete(principal, name: str):
    roles.delete_role(current_runtime().db, principal, name, current_runtime().settings.security.default_role)
    return done("deleted", "admin.roles_page")
