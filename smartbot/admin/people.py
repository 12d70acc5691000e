"""Users, identities and roles on the admin page, with the permission matrix. Roles, areas and
users the caller could not grant or bind to are shown greyed; the manage layer refuses them
whatever the form sends (auth/delegation.py)."""
from __future__ import annotations

from flask import flash, redirect, request, url_for

from ..auth import delegation
from ..auth.permissions import ADMIN_AREAS, PERMISSIONS
from ..auth.rbac import Grant, pattern_matches
from ..i18n import catalogue, t
from ..i18n.reasons import reason
from ..manage import identities, roles, users
from ..manage.errors import Invalid
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, locale, page, render

# What the matrix shows per role: (label, a permission that stands for the area).
MATRIX = [("chat", "chat"), ("command:run:*", "command:run:any"), ("workflow:run:*", "workflow:run:any"),
          ("approval:decide", "approval:decide"), ("admin:login", "admin:login")] + \
         [(f"admin:{area}", f"admin:{area}") for area in ADMIN_AREAS]


def _lines(text: str) -> list[str]:
    return [line.strip() for line in text.replace(",", "\n").splitlines() if line.strip()]


def _grants(role: dict) -> list[Grant]:
    scope = tuple(role["chat_scope"]) if role["chat_scope"] is not None else None
    return [Grant(p, role["name"], scope) for p in role["permissions"]]


def _cell(patterns: list[str], probe: str, label: str) -> dict:
    """What the role gives of one area: all of it ('yes', with the wider pattern that gives it),
    parts of it ('some', with the permissions that fall under it, and their names within the
    area), or nothing ('')."""
    giving = [p for p in patterns if pattern_matches(p, probe)]
    if giving:
        return {"state": "yes", "covers": [] if label in giving else giving[:1], "short": []}
    prefix = label.rstrip("*").rstrip(":") + ":"
    parts = [p for p in patterns if p.startswith(prefix)]
    return {"state": "some" if parts else "", "covers": parts, "short": [p[len(prefix):] for p in parts]}


def _implied(patterns: list[str], areas: list[str]) -> dict[str, str]:
    """Areas a role holds through a wider pattern it has (`command:*` gives `command:run:*`): area
    -> that pattern. The form shows them ticked and fixed: untick the wider pattern to drop them."""
    out = {}
    for area in areas:
        if area in patterns:
            continue
        wider = next((p for p in patterns if delegation.contains(p, area)), None)
        if wider is not None:
            out[area] = wider
    return out


@bp.get("/users")
@page("admin:users")
def users_page(principal):
    db = current_runtime().db
    all_roles = roles.list_roles(db)
    all_users = users.list_users(db)
    grants = {r["name"]: _grants(r) for r in all_roles}
    return render("admin/users.html", principal=principal, users=all_users,
                  roles=[r["name"] for r in all_roles],
                  grantable={name for name, given in grants.items() if delegation.covers(principal, given)},
                  bindable={u["id"] for u in all_users
                            if delegation.covers(principal, [g for r in u["roles"] for g in grants.get(r, [])])},
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
    raw = form.get("user_id", "").strip()
    if raw and not (raw.isascii() and raw.isdigit() and len(raw) <= 10):
        raise Invalid(reason("reason.user.choose"), "user_id")
    body = validate(identities.BIND_FIELDS, {"channel": form.get("channel", "").strip(),
                                             "platform_user_id": form.get("platform_user_id", "").strip(),
                                             "user_id": int(raw) if raw else None})
    bound = identities.bind(current_runtime().db, principal, body["channel"], body["platform_user_id"],
                            body["user_id"])
    identity = f"{bound['channel']}:{bound['platform_user_id']}"
    if bound["user_id"] is None:
        flash(t("admin.flash.unbound", locale(), identity=identity), "ok")
    else:
        flash(t("admin.flash.bound", locale(), identity=identity, user=users.get_user(current_runtime().db,
                                                                                       bound["user_id"])["name"]), "ok")
    return redirect(url_for("admin.users_page"))


@bp.get("/roles")
@page("admin:roles")
def roles_page(principal):
    all_roles = roles.list_roles(current_runtime().db)
    matrix = [(label, [_cell(r["permissions"], probe, label) for r in all_roles]) for label, probe in MATRIX]
    areas = [label for label, _ in MATRIX]
    implied = {r["name"]: _implied(r["permissions"], areas) for r in all_roles}
    for r in all_roles:
        r["shown_description"] = _description_shown(r, locale())
    return render("admin/roles.html", principal=principal, roles=all_roles, matrix=matrix,
                  permissions={name: _permission_text(name, text) for name, text in PERMISSIONS.items()},
                  areas=areas, implied=implied,
                  holdable={a for a in areas if delegation.covers(principal, [Grant(a, "")])})


@bp.post("/roles")
@page("admin:roles")
def roles_create(principal):
    form = request.form
    roles.create_role(current_runtime().db, principal, {
        "name": form.get("name", "").strip(), "description": form.get("description", ""),
        "permissions": form.getlist("areas") + _lines(form.get("extra", ""))})
    return done("saved", "admin.roles_page")


def _permission_text(name: str, declared: str) -> str:
    """What a permission allows, in the page's language (the declaration's words until the
    catalogues have it; a test says when they do not)."""
    key = f"admin.permission_text.{name}"
    return t(key, locale()) if key in catalogue("en") else declared


def _template_text(name: str, loc: str) -> str:
    return t(f"admin.role_template.{name}", loc)


def _description_shown(role: dict, loc: str) -> str:
    """A role template's description as shipped reads in the page's language; one an admin wrote
    reads as written."""
    if role["is_template"] and role["description"] == _template_text(role["name"], "en"):
        return _template_text(role["name"], loc)
    return role["description"]


def _description_to_store(name: str, text: str) -> str:
    """The shipped description saved back unchanged from a page in another language stays the
    shipped one (so every language keeps showing its own)."""
    return _template_text(name, "en") if text and text == _template_text(name, locale()) else text


@bp.post("/roles/<name>")
@page("admin:roles")
def roles_update(principal, name: str):
    form = request.form
    scope = _lines(form.get("chat_scope", ""))
    roles.update_role(current_runtime().db, principal, name, {
        "description": _description_to_store(name, form.get("description", "")),
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
