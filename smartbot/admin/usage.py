"""The usage and cost page: tokens and cost per day, user, provider and model over the last 7, 30
or 90 days, as server-drawn SVG charts with the same numbers in tables.

The figures are `assistant/usage.breakdown`'s, the very query behind `GET /api/v1/usage?by=`, so
the page and the API never disagree.
"""
from __future__ import annotations

import datetime as dt
import functools
import math
from typing import Any, Callable

from flask import request

from ..assistant import usage
from ..i18n import t
from ..web.context import current_runtime
from . import charts
from .base import bp, locale, page, render
from .figures import money, number

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
TOP = 10                        # rows in a ranking; the rest are summed into one
RANKINGS = ("user", "provider", "model")
NAME_CHARS = 26


@bp.get("/usage")
@page("admin:usage")
def usage_page(principal):
    text = functools.partial(t, locale=locale())
    raw = request.args.get("period", str(DEFAULT_PERIOD))
    if raw not in {str(days) for days in PERIODS}:       # "NaN", "1e23", "-7": only the choices offered
        return render("admin/error.html", status=400, principal=principal,
                      message=text("ops.usage.bad_period", periods=", ".join(map(str, PERIODS))))
    first, last = usage.last_days(int(raw))
    with current_runtime().db.read() as conn:
        data = {by: usage.breakdown(conn, first, last, by) for by in usage.BREAKDOWNS}
    days = _every_day(first, last, data["day"]["items"])
    return render("admin/usage.html", principal=principal, period=int(raw), periods=PERIODS, first=first, last=last,
                  totals=data["day"]["totals"], data=data, days=days, day_charts=_day_charts(days, text),
                  rankings={by: _ranking(by, data[by]["items"], text) for by in RANKINGS})


def _every_day(first: str, last: str, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One entry per day of the period, zero where nothing was used."""
    known = {item["day"]: item for item in items}
    start, end = dt.date.fromisoformat(first), dt.date.fromisoformat(last)
    empty = {"calls": 0, "prompt_tokens": 0, "completion_tokens": 0, "tokens": 0, "cost": 0.0}
    return [known.get(day, {"day": day, **empty}) for day in
            ((start + dt.timedelta(days=i)).isoformat() for i in range((end - start).days + 1))]


def _day_charts(days: list[dict[str, Any]], text: Callable[..., str]) -> dict[str, charts.Chart]:
    names = [d["day"][5:] for d in days]                   # MM-DD: the year is in the heading
    tokens = charts.columns(
        names, [[d["prompt_tokens"] for d in days], [d["completion_tokens"] for d in days]],
        lambda s, i: text("ops.usage.day_tokens_title", day=days[i]["day"],
                          kind=text("ops.usage.prompt" if s == 0 else "ops.usage.completion"),
                          tokens=number(days[i]["prompt_tokens" if s == 0 else "completion_tokens"])),
        number)
    cost = charts.columns(
        names, [[d["cost"] for d in days]],
        lambda s, i: text("ops.usage.day_cost_title", day=days[i]["day"], cost=money(days[i]["cost"])),
        _axis_money(max((d["cost"] for d in days), default=0.0)))
    return {"tokens": tokens, "cost": cost}


def _ranking(by: str, items: list[dict[str, Any]], text: Callable[..., str]) -> charts.Chart:
    """The TOP largest by tokens, the rest as one "others" bar."""
    shown = [(item[by] or text("ops.usage.unknown"), item["tokens"], item["cost"]) for item in items[:TOP]]
    rest = items[TOP:]
    if rest:
        shown.append((text("ops.usage.others", count=len(rest)), sum(i["tokens"] for i in rest),
                      sum(i["cost"] for i in rest)))
    notes = [text("ops.usage.note", tokens=number(tokens), cost=money(cost)) for _, tokens, cost in shown]
    return charts.rows([_fit(name) for name, _, _ in shown], [tokens for _, tokens, _ in shown], notes,
                       [f"{name}: {note}" for (name, _, _), note in zip(shown, notes)], last_is_rest=bool(rest))


def _fit(name: str) -> str:
    return name if len(name) <= NAME_CHARS else name[:NAME_CHARS - 1] + "…"


def _axis_money(largest: float) -> Callable[[float], str]:
    """Enough decimals to tell the cost axis's ticks apart."""
    top, ticks = charts.axis(largest)
    decimals = max(0, min(6, -math.floor(math.log10(top / ticks))))
    return lambda value: f"{value:,.{decimals}f}"
