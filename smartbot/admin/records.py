"""The audit log viewer and the conversations on the admin page (read only)."""
from __future__ import annotations

import time

from flask import request

from ..manage import audit_view, state
from ..web.context import current_runtime
from .base import bp, page, render


def _number(name: str) -> float | None:
    raw = request.args.get(name, "")
    try:
        return float(raw) if raw else None
    except ValueError:
        return None


@bp.get("/audit")
@page("admin:audit")
def audit_page(principal):
    db = current_runtime().db
    hours = _number("hours")
    filters = {"actor": request.args.get("actor") or None, "action": request.args.get("action") or None,
               "since": time.time() - hours * 3600 if hours else None}
    events = audit_view.search(db, before_seq=int(_number("before_seq") or 0) or None, limit=100, **filters)
    chain = audit_view.verify(db) if request.args.get("verify") else None
    return render("admin/audit.html", principal=principal, events=events, filters=request.args, chain=chain)


@bp.get("/conversations")
@page("admin:conversations")
def conversations_page(principal):
    db = current_runtime().db
    selected = int(_number("id") or 0)
    detail = state.conversation(db, selected) if selected else None
    return render("admin/conversations.html", principal=principal, conversations=state.conversations(db, None, 200),
                  detail=detail)
