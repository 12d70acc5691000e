"""The admin page's plumbing: the blueprint, the login check per page, the language, rendering,
and turning management errors into a message on the page (never a traceback)."""
from __future__ import annotations

import functools
from typing import Any, Callable

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_jwt_extended import get_csrf_token

from ..auth import rbac
from ..errors import PayloadError, PermissionDenied
from ..httputil import load_json
from ..i18n import available, normalize, t
from ..manage import changes
from ..manage.errors import Invalid, ManageError
from ..web.context import current_runtime
from ..web.session import AccessRefused, require

bp = Blueprint("admin", __name__, url_prefix="/admin")
LANG_COOKIE = "smartbot_lang"


def locale() -> str:
    chosen = request.args.get("lang") or request.cookies.get(LANG_COOKIE) or \
        request.accept_languages.best_match(["en", "zh-CN", "zh"]) or ""
    return normalize(chosen, current_runtime().settings.default_locale)


def render(template: str, status: int = 200, **values: Any):
    loc = locale()
    runtime = current_runtime()
    principal = values.pop("principal", None)
    body = render_template(template, t=lambda key, **kw: t(key, loc, **kw), locale=loc, locales=available(),
                           bot_name=runtime.settings.bot_name, principal=principal,
                           can=(lambda perm: bool(principal) and rbac.check(principal, perm).allowed),
                           csrf=_csrf(), **values)
    response = make_response(body, status)
    if request.args.get("lang"):
        response.set_cookie(LANG_COOKIE, loc, max_age=365 * 86400, samesite="Lax", httponly=True)
    return response


def _csrf() -> str:
    token = request.cookies.get("access_token_cookie")
    if not token:
        return ""
    try:
        return get_csrf_token(token)
    except Exception:   # an expired or foreign cookie has no usable CSRF token; the page shows login
        return ""


def page(permission: str) -> Callable:
    """A page (GET) or form action (POST) that needs a logged-in admin with `permission`.
    POSTs must carry the CSRF token; management errors come back as a message on the page."""
    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**kwargs: Any):
            runtime = current_runtime()
            try:
                principal, claims = require(runtime, permission, locations=["cookies"])
            except AccessRefused as exc:
                if exc.status == 401:
                    if request.method == "POST" and "CSRF" in exc.reason:
                        return render("admin/error.html", status=400, message=exc.reason)
                    return redirect(url_for("admin.login_form", next=request.path))
                return render("admin/error.html", status=403, message=exc.reason)
            try:
                return fn(principal, **kwargs)
            except (ManageError, PermissionDenied) as exc:   # a refusal is audited where raised
                field = getattr(exc, "field", None)
                flash(f"{field + ': ' if field else ''}{exc.reason}", "error")
                return redirect(request.referrer or url_for("admin.dashboard"))
        return view
    return decorate


def actor(principal: rbac.Principal) -> str:
    return changes.actor_of(principal)


def json_field(name: str) -> dict:
    """A form field holding a JSON object (empty: {}), or Invalid naming the field."""
    text = request.form.get(name, "").strip() or "{}"
    try:
        value = load_json(text)
    except PayloadError as exc:
        raise Invalid(f"not valid JSON ({exc.reason})", name) from None
    if not isinstance(value, dict):
        raise Invalid("must be a JSON object", name)
    return value


def number_fields(kinds: dict[str, Callable[[str], Any]]) -> dict[str, Any]:
    """The form's filled-in number fields, converted; one that does not parse is passed on as it
    is, for the field check (manage/fields.py) to name."""
    numbers: dict[str, Any] = {}
    for key, kind in kinds.items():
        raw = request.form.get(key, "").strip()
        if raw:
            try:
                numbers[key] = kind(raw)
            except ValueError:
                numbers[key] = raw
    return numbers


def done(message: str, endpoint: str, **values: Any):
    flash(message, "ok")
    return redirect(url_for(endpoint, **values))
