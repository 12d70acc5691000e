"""Token and cost accounting per user, provider, model and UTC day, and the daily token quotas.

Every answered model call adds one upsert to `model_usage` (calls, prompt and completion tokens,
cost from the provider's optional prices per 1,000 tokens). The model's answer carries its usage
(`ModelResponse`); whoever asked records it with what it stores. A chat message's calls go into
its Outcome and are written by the transaction that finishes the message, which happens once per
message: a message handled again (after a crash, or when its lease ran out mid-answer) counts the
calls of the handling that was stored, once. Quotas are checked before a call: a user at or over
their limit gets no model call at all; the call that crosses the limit is allowed to finish, since
its size is only known afterwards.

The per-minute message rate is counted once per message too (`over_rate`). Never stores message
text.
"""
from __future__ import annotations

import datetime as dt
import time
from dataclasses import dataclass
from typing import Any, Iterable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth.rbac import Principal
from ..settings.sections import QuotaSettings
from ..llm.base import ModelResponse, Usage
from ..storage.tables import ModelUsage

_usage = ModelUsage.__table__
_UPSERT = sa.text(
    "INSERT INTO model_usage (day, user_key, provider, model, calls, prompt_tokens, completion_tokens, cost, "
    "updated_at) VALUES (:day, :user_key, :provider, :model, 1, :prompt, :completion, :cost, :now) "
    "ON CONFLICT (day, user_key, provider, model) DO UPDATE SET calls = model_usage.calls + 1, "
    "prompt_tokens = model_usage.prompt_tokens + excluded.prompt_tokens, "
    "completion_tokens = model_usage.completion_tokens + excluded.completion_tokens, "
    "cost = model_usage.cost + excluded.cost, updated_at = excluded.updated_at")
_TOKENS_ON = sa.text("SELECT COALESCE(SUM(prompt_tokens + completion_tokens), 0) FROM model_usage "
                     "WHERE user_key = :user_key AND day = :day")
UNKNOWN_USER = "(unknown)"
# How long a minute's places are kept: longer than any handling of a message arrived in it takes,
# lease expiry and takeover included, so a message handled again finds its place.
RATE_MEMORY_SECONDS = 600.0


def day_of(ts: float | None = None) -> str:
    """The UTC day of `ts` (now), as usage rows are keyed."""
    return time.strftime("%Y-%m-%d", time.gmtime(time.time() if ts is None else ts))


def last_days(days: int, today: str | None = None) -> tuple[str, str]:
    """The first and last UTC day of the `days` days that end today (inclusive)."""
    last = dt.date.fromisoformat(today or day_of())
    return (last - dt.timedelta(days=days - 1)).isoformat(), last.isoformat()


def user_key(principal: Principal) -> str:
    """Whose tokens these are: a bound user by name (across platforms), else the platform sender."""
    return principal.name if principal.user_id is not None else principal.identity


@dataclass(frozen=True)
class Spent:
    """One answered model call's usage, to be written."""

    user: str
    provider: str
    model: str
    usage: Usage
    cost: float
    at: float


def spent(user: str, responses: Iterable[ModelResponse], at: float | None = None) -> list[Spent]:
    """What answering `user` spent: one entry per answered call (a cached answer spent nothing)."""
    at = time.time() if at is None else at
    return [Spent(user, r.provider, r.model, r.usage, r.cost, at) for r in responses if not r.cached]


def record(conn: Connection, item: Spent) -> None:
    conn.execute(_UPSERT, {"day": day_of(item.at), "user_key": (item.user or UNKNOWN_USER)[:200],
                           "provider": item.provider, "model": (item.model or "")[:200],
                           "prompt": item.usage.prompt_tokens,
                           "completion": item.usage.completion_tokens, "cost": item.cost, "now": item.at})


def record_all(conn: Connection, items: Iterable[Spent]) -> None:
    for item in items:
        record(conn, item)


def tokens_on(conn: Connection, user: str, day: str | None = None) -> int:
    return int(conn.execute(_TOKENS_ON, {"user_key": user, "day": day or day_of()}).scalar() or 0)


def daily_limit(quotas: QuotaSettings, user: str, roles: tuple[str, ...]) -> int | None:
    """The user's token allowance today; None = unlimited."""
    return _limit(quotas.per_user, quotas.per_role, user, roles)


def _limit(per_user: dict[str, int], per_role: dict[str, int], user: str, roles: tuple[str, ...]) -> int | None:
    """A user's own entry wins; else their most generous role's; a role without one is unlimited."""
    if user in per_user:
        return per_user[user]
    if not roles or any(role not in per_role for role in roles):
        return None
    return max(per_role[role] for role in roles)


def _lowest(limit: int | None, lower: int | None) -> int | None:
    """The stricter of two limits (None: unlimited)."""
    return limit if lower is None else lower if limit is None else min(limit, lower)


def over_rate(store: Any, quotas: QuotaSettings, principal: Principal, message_key: str,
              sent_at: float, lower: int | None = None) -> tuple[int, int] | None:
    """(limit, place) when this message is past the user's messages-per-minute limit, else None.

    Each message takes its place in its sender's minute (the minute it arrived in) once: handling
    it again (after a crash, or when its lease ran out) finds the same place, so the same answer.
    Counted in the shared store, so the limit holds across processes and, with Redis, nodes."""
    key = user_key(principal)
    limit = _lowest(_limit(quotas.messages_per_minute_per_user, quotas.messages_per_minute_per_role, key,
                           principal.roles), lower)
    if limit is None:
        return None
    place = store.place(f"chat-rate:{key}:{int(sent_at // 60)}", message_key, RATE_MEMORY_SECONDS)
    return (limit, place) if place > limit else None


@dataclass(frozen=True)
class QuotaState:
    used: int
    limit: int

    @property
    def exceeded(self) -> bool:
        return self.used >= self.limit


def quota_state(conn: Connection, quotas: QuotaSettings, principal: Principal,
                lower: int | None = None) -> QuotaState | None:
    """None when the principal has no limit (nothing is read then). `lower`: a limit of the chat's
    own (a profile's), which can only lower the server's."""
    key = user_key(principal)
    limit = _lowest(daily_limit(quotas, key, principal.roles), lower)
    if limit is None:
        return None
    return QuotaState(tokens_on(conn, key), limit)


BREAKDOWNS = {"day": _usage.c.day, "user": _usage.c.user_key, "provider": _usage.c.provider,
              "model": _usage.c.model}
_SUMS = (sa.func.sum(_usage.c.calls).label("calls"), sa.func.sum(_usage.c.prompt_tokens).label("prompt_tokens"),
         sa.func.sum(_usage.c.completion_tokens).label("completion_tokens"), sa.func.sum(_usage.c.cost).label("cost"))


def _between(query: Any, first_day: str, last_day: str, user: str, provider: str) -> Any:
    """The rows the usage report and its breakdowns read: these days, this user, this provider."""
    query = query.where(_usage.c.day >= first_day, _usage.c.day <= last_day)
    if user:
        query = query.where(_usage.c.user_key == user)
    if provider:
        query = query.where(_usage.c.provider == provider)
    return query


def report(conn: Connection, first_day: str, last_day: str, user: str = "", provider: str = "",
           limit: int = 1000) -> dict[str, Any]:
    """Usage rows between two days (inclusive), newest first, with their totals."""
    query = _between(sa.select(_usage), first_day, last_day, user, provider)
    rows = conn.execute(query.order_by(_usage.c.day.desc(), _usage.c.user_key, _usage.c.provider, _usage.c.model)
                        .limit(limit)).all()
    items = [{"day": r.day, "user": r.user_key, "provider": r.provider, "model": r.model, "calls": r.calls,
              "prompt_tokens": r.prompt_tokens, "completion_tokens": r.completion_tokens,
              "tokens": r.prompt_tokens + r.completion_tokens, "cost": round(r.cost, 6)} for r in rows]
    return {"from": first_day, "to": last_day, "items": items, "totals": _totals(items),
            "truncated": len(items) == limit}


def breakdown(conn: Connection, first_day: str, last_day: str, by: str, user: str = "",
              provider: str = "") -> dict[str, Any]:
    """The same rows as `report`, summed per day, user, provider or model (`by`): the usage
    page's charts and `GET /api/v1/usage?by=` read this. Largest first, days in order."""
    column = BREAKDOWNS[by]
    query = _between(sa.select(column.label("key"), *_SUMS), first_day, last_day, user, provider).group_by(column)
    items = [{by: r.key, "calls": int(r.calls or 0), "prompt_tokens": int(r.prompt_tokens or 0),
              "completion_tokens": int(r.completion_tokens or 0),
              "tokens": int((r.prompt_tokens or 0) + (r.completion_tokens or 0)), "cost": round(r.cost or 0.0, 6)}
             for r in conn.execute(query).all()]
    if by == "day":
        items.sort(key=lambda item: item["day"])
    else:
        items.sort(key=lambda item: (-item["tokens"], -item["cost"], item[by]))
    return {"from": first_day, "to": last_day, "by": by, "items": items, "totals": _totals(items)}


def _totals(items: list[dict[str, Any]]) -> dict[str, Any]:
    totals: dict[str, Any] = {key: sum(item[key] for item in items)
                              for key in ("calls", "prompt_tokens", "completion_tokens", "tokens")}
    totals["cost"] = round(sum(item["cost"] for item in items), 6)
    return totals
