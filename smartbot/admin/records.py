"""The audit log viewer (filters, pages, CSV export) and the conversations on the admin page
(read only). Every value of the query string is checked: a bad one is a 400 naming it."""
from __future__ import annotations

import re
import time
import uuid

from flask import Response, request, stream_with_context

from ..audit.events import RESULTS
from ..i18n.reasons import reason
from ..manage import audit_view, conversations, handoffs
from ..manage.errors import Invalid
from ..web.context import current_runtime
from .base import bp, locale, page, render, text, whole_number

AUDIT_PAGE = 100
MAX_HOURS = 24 * 366 * 10
_HOURS = re.compile(r"[0-9]{1,6}(\.[0-9]{1,3})?")
AUDIT_FILTERS = ("actor", "action", "result", "hours")


def _hours() -> float | None:
    raw = request.args.get("hours", "").strip()
    if raw == "":
        return None
    if not _HOURS.fullmatch(raw) or not 0 < float(raw) <= MAX_HOURS:
        raise Invalid(reason("reason.field.hours", n=MAX_HOURS), "hours")
    return float(raw)


def _audit_filters() -> audit_view.Filters:
    """The page's filters, the same for the list and the CSV export: `actor` names a person
    (every stored form of their name, their chat identities), `hours` the last hours."""
    hours = _hours()
    return audit_view.Filters(person=text("actor") or None, action=text("action", 100) or None,
                              result=text("result", 40) or None,
                              since=time.time() - hours * 3600 if hours else None)


@bp.get("/audit")
@page("admin:audit")
def audit_page(principal):
    db = current_runtime().db
    filters = _audit_filters()
    events = audit_view.search(db, filters, before_seq=whole_number("before_seq", None), limit=AUDIT_PAGE,
                               named=True)
    chain = audit_view.verify(db) if request.args.get("verify") else None
    shown = {k: request.args.get(k, "") for k in AUDIT_FILTERS if request.args.get(k)}
    return render("admin/audit.html", principal=principal, events=events, filters=shown, chain=chain,
                  results=list(RESULTS), older=events[-1]["seq"] if len(events) == AUDIT_PAGE else None)


@bp.get("/audit/export.csv")
@page("admin:audit")
def audit_export(principal):
    lines = audit_view.export_csv(current_runtime().db, _audit_filters(), locale())
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=smartbot-audit.csv"})


@bp.get("/conversations")
@page("admin:conversations")
def conversations_page(principal):
    db = current_runtime().db
    search = conversations.Search(text=text("q"), user=text("user"))
    key = text("key", 300)
    if key:
        detail = conversations.timeline(db, key, whole_number("before", None))
        return render("admin/conversation.html", principal=principal, detail=detail, search=search,
                      handoff_id=handoffs.open_for(current_runtime(), key), form_key=uuid.uuid4().hex)
    found = conversations.listing(db, whole_number("page", 1, maximum=conversations.MAX_PAGE), search)
    return render("admin/conversations.html", principal=principal, found=found, search=search)
