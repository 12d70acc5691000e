"""Personal API tokens on the admin page: everyone who may log in makes, sees and revokes their own;
a holder of admin:users also sees every user's and may make or revoke one for a user it covers
(manage/api_tokens.py decides). A new token is shown on the answer to the form, once, and never
put in a cookie or a flash message."""
from __future__ import annotations

from flask import request

from ..manage import api_tokens, users
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, number_fields, page, render


def _page(principal, made: dict | None = None, status: int = 200):  # noqa: ANN001, ANN202 - a Principal; a response
    db = current_runtime().db
    others = api_tokens.may_see_others(principal)
    response = render("admin/tokens.html", status=status, principal=principal, made=made, others=others,
                      tokens=api_tokens.listing(db, principal, everyone=others),
                      users=[u["name"] for u in users.list_users(db)] if others else [],
                      serving=current_runtime().settings.mcp.serve)
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.get("/tokens")
@page("admin:login")
def tokens_page(principal):
    return _page(principal)


@bp.post("/tokens")
@page("admin:login")
def tokens_create(principal):
    form = request.form
    body = validate(api_tokens.CREATE_FIELDS, {"name": form.get("name", ""), "user": form.get("user", ""),
                                               **number_fields({"expires_in_days": int})})
    return _page(principal, made=api_tokens.create(current_runtime().db, principal, body), status=201)


@bp.post("/tokens/<int:token_id>/revoke")
@page("admin:login")
def tokens_revoke(principal, token_id: int):
    api_tokens.revoke(current_runtime().db, principal, token_id)
    return done("saved", "admin.tokens_page")
