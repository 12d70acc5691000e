"""/api/v1/usage: tokens and cost per user, provider, model and UTC day (read-only), as rows or, with
`by=`, summed per day, user, provider or model (what the admin page's usage charts show)."""
from __future__ import annotations

import datetime as dt

from flask import Blueprint, request

from ..assistant import usage
from .context import ApiContext, ApiError
from .registry import route

bp = Blueprint("api_usage", __name__)
MAX_DAYS = 366


@route(bp, "/usage", "GET", summary="Tokens and cost per user, provider, model and day", permission="admin:usage",
       tag="models", query={"day": "one UTC day, YYYY-MM-DD (default: today)",
                            "from": "first day of a range, YYYY-MM-DD", "to": "last day of a range (default: today)",
                            "user": "only this user (a name, or channel:platform_user_id)",
                            "provider": "only this provider",
                            "by": "sum per day, user, provider or model instead of listing rows"})
def get_usage(ctx: ApiContext):
    today = usage.day_of()
    day = _day(request.args.get("day"), "day")
    first = day or _day(request.args.get("from"), "from") or today
    last = day or _day(request.args.get("to"), "to") or today
    if first > last:
        raise ApiError(422, "'from' is after 'to'", "from")
    if (dt.date.fromisoformat(last) - dt.date.fromisoformat(first)).days >= MAX_DAYS:
        raise ApiError(422, f"ask for at most {MAX_DAYS} days at once", "from")
    by = request.args.get("by", "")
    if by and by not in usage.BREAKDOWNS:
        raise ApiError(422, f"'by' is one of: {', '.join(usage.BREAKDOWNS)}", "by")
    user, provider = request.args.get("user", "")[:200], request.args.get("provider", "")[:100]
    with ctx.runtime.db.read() as conn:
        if by:
            return usage.breakdown(conn, first, last, by, user, provider)
        return usage.report(conn, first, last, user, provider)


def _day(value: str | None, field_name: str) -> str:
    if not value:
        return ""
    try:
        return dt.date.fromisoformat(value).isoformat()
    except ValueError:
        raise ApiError(422, "must be a date like 2026-12-01", field_name) from None
