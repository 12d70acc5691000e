"""The audit log: search, CSV export, chain verification."""
from __future__ import annotations

from flask import Blueprint, Response, stream_with_context

from ..audit.events import RESULTS
from ..manage import audit_view
from . import query
from .context import ApiContext
from .registry import route

bp = Blueprint("api_audit", __name__)
TAG = "audit"
FILTERS = {"actor": "exact actor, as stored", "person": "a user's name: every actor that stands for that user "
           "(admin:<name>, older forms, the chat identities bound to them)",
           "action": "action name, * as a wildcard (e.g. rule.*)",
           "result": "one result: " + ", ".join(RESULTS), "since": "unix seconds", "until": "unix seconds"}


def _filters() -> audit_view.Filters:
    return audit_view.Filters(actor=query.text("actor"), person=query.text("person"), action=query.text("action"),
                              result=query.text("result"), since=query.number("since"), until=query.number("until"))


@route(bp, "/audit", "GET", summary="Audit events, newest first", permission="admin:audit", tag=TAG,
       query={**FILTERS, "before_seq": "page: events older than this sequence number", "limit": "at most 1000"})
def search(ctx: ApiContext):
    events = audit_view.search(ctx.runtime.db, _filters(), before_seq=query.integer("before_seq"),
                               limit=query.integer("limit", 100, 1, 1000))
    return {"events": events, "next_before_seq": events[-1]["seq"] if events else None}


@route(bp, "/audit/export.csv", "GET", summary="Audit events as CSV, oldest first", permission="admin:audit",
       tag=TAG, query=FILTERS)
def export(ctx: ApiContext):
    lines = audit_view.export_csv(ctx.runtime.db, _filters())
    return Response(stream_with_context(lines), content_type="text/csv; charset=utf-8",
                    headers={"Content-Disposition": "attachment; filename=smartbot-audit.csv"})


@route(bp, "/audit/verify", "GET", summary="Verify the hash chain", permission="admin:audit", tag=TAG)
def verify(ctx: ApiContext):
    return audit_view.verify(ctx.runtime.db)
