"""The admin page's plumbing: the blueprint, the login check per page, the language, rendering
(with names and times the way every page shows them), reading a page's query string, and turning
management errors into a message on the page (never a traceback)."""
from __future__ import annotations

import functools
import json
import re
from datetime import datetime, timezone
from typing import Any, Callable

from flask import Blueprint, flash, make_response, redirect, render_template, request, url_for
from flask_jwt_extended import get_csrf_token
from markupsafe import Markup, escape

from ..auth import rbac
from ..errors import PayloadError, PermissionDenied
from ..httputil import load_json
from ..i18n import FALLBACK, available, catalogue, normalize, t
from ..i18n.reasons import reason, say
from ..manage import changes, names
from ..manage.errors import Invalid, ManageError
from ..storage.db import MAX_INTEGER
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
    body = render_template(template, t=lambda key, **kw: coded(t(key, loc, **kw)), locale=loc, locales=available(),
                           bot_name=runtime.settings.bot_name, principal=principal,
                           can=(lambda perm: bool(principal) and rbac.check(principal, perm).allowed),
                           who=lambda w: names.display(w, loc), when=when, pretty=pretty, coded=coded,
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
                        return render("admin/error.html", status=400, message=say(exc.reason, locale()))
                    return redirect(url_for("admin.login_form", next=request.path))
                return render("admin/error.html", status=403, message=say(exc.reason, locale()))
            try:
                return fn(principal, **kwargs)
            except (ManageError, PermissionDenied) as exc:   # a refusal is audited where raised
                message = refusal(exc, locale())
                if request.method == "GET":              # what was asked for cannot be shown
                    status = 400 if isinstance(exc, Invalid) else getattr(exc, "status", 403)   # a bad query
                    return render("admin/error.html", status=status, message=message, principal=principal)
                flash(message, "error")
                return redirect(request.referrer or url_for("admin.dashboard"))
        return view
    return decorate


def refusal(exc: ManageError | PermissionDenied, loc: str) -> str:
    """A service's refusal in the page's language, after the field it names: in English the field's
    own name (as the API says it), in another language its label, or the name shown as code."""
    said = say(exc.reason, loc)
    field = getattr(exc, "field", None)
    if not field:
        return said
    label = f"reason.field_name.{field}"
    if label in catalogue(FALLBACK):
        field = t(label, loc)
    elif loc != FALLBACK:
        field = f"`{field}`"
    return t("reason.with_field", loc, field=field, reason=said)


def actor(principal: rbac.Principal) -> str:
    return changes.actor_of(principal)


def json_field(name: str) -> dict:
    """A form field holding a JSON object (empty: {}), or Invalid naming the field."""
    text = request.form.get(name, "").strip() or "{}"
    try:
        value = load_json(text)
    except PayloadError as exc:
        raise Invalid(reason("reason.field.not_json", detail=exc.reason), name) from None
    if not isinstance(value, dict):
        raise Invalid(reason("reason.field.json_object"), name)
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


def when(ts: float | None) -> Markup:
    """A time as the pages show it: UTC in the markup, turned into the reader's local time in the
    page's language by the script in base.html."""
    if not ts:
        return Markup("")
    moment = datetime.fromtimestamp(ts, timezone.utc)
    return Markup('<time datetime="{}">{}</time>').format(
        moment.isoformat(timespec="seconds").replace("+00:00", "Z"), moment.strftime("%Y-%m-%d %H:%M:%S UTC"))


_CODE = re.compile(r"`([^`]+)`")


def coded(text: str) -> Markup:
    """A catalogue's text for a page: escaped, with `backquoted` spans shown as code (names and
    syntax a person types as they are, in every language)."""
    return Markup(_CODE.sub(lambda m: f"<code>{m.group(1)}</code>", str(escape(text))))


def pretty(value: Any) -> str:
    """JSON as people read it: indented, keys in order, letters as they are (the template escapes)."""
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


_WHOLE = re.compile(r"[0-9]{1,10}")


def whole_number(name: str, default: int | None, minimum: int = 1, maximum: int = MAX_INTEGER) -> int | None:
    """A whole number from the query string; Invalid (a 400 page naming it) for anything else:
    `nan`, `-1`, `1e23`, `0x10`. Checked as text first: float('nan') passes every comparison."""
    raw = request.args.get(name, "")
    if raw == "":
        return default
    if not _WHOLE.fullmatch(raw) or not minimum <= int(raw) <= maximum:
        raise Invalid(reason("reason.field.whole_number", minimum=minimum, maximum=maximum), name)
    return int(raw)


def text(name: str, max_length: int = 200) -> str:
    """Text from the query string, stripped; Invalid when longer than `max_length`."""
    value = request.args.get(name, "").strip()
    if len(value) > max_length:
        raise Invalid(reason("reason.field.max_length", n=max_length), name)
    return value
